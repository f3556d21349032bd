-- tags.sql: tags and metadata of disk entries (docs/persistence.md, "Tags, metadata and
-- queries"), added to a directory the first time it is used with tags, meta or a query: the
-- migration (IF NOT EXISTS: directories of earlier versions keep working). One file for the C++
-- store (embedded at build time, core/CMakeLists.txt) and Python (installed into the package as
-- twincache/_disk_tags.sql). The triggers keep the tables exact whichever store writes: a new
-- or replaced value gets a fresh entry_info row (its write time, no meta) and loses its tags
-- (DELETE then INSERT: inside the stores' UPSERT an OR REPLACE would not apply); a deleted,
-- evicted or expired row takes its info and tags with it.
CREATE TABLE IF NOT EXISTS entry_info(
  key_hash BLOB PRIMARY KEY, created INTEGER NOT NULL, meta TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entry_tags(
  tag TEXT NOT NULL, key_hash BLOB NOT NULL, PRIMARY KEY (tag, key_hash)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entry_tags_key ON entry_tags(key_hash);
CREATE TRIGGER IF NOT EXISTS entries_info_ins AFTER INSERT ON entries BEGIN
  DELETE FROM entry_tags WHERE key_hash = NEW.key_hash;
  DELETE FROM entry_info WHERE key_hash = NEW.key_hash;
  INSERT INTO entry_info(key_hash, created, meta) VALUES (NEW.key_hash, NEW.atime, NULL);
  END;
CREATE TRIGGER IF NOT EXISTS entries_info_upd AFTER UPDATE OF hmac ON entries BEGIN
  DELETE FROM entry_tags WHERE key_hash = NEW.key_hash;
  DELETE FROM entry_info WHERE key_hash = NEW.key_hash;
  INSERT INTO entry_info(key_hash, created, meta) VALUES (NEW.key_hash, NEW.atime, NULL);
  END;
CREATE TRIGGER IF NOT EXISTS entries_info_del AFTER DELETE ON entries BEGIN
  DELETE FROM entry_info WHERE key_hash = OLD.key_hash;
  DELETE FROM entry_tags WHERE key_hash = OLD.key_hash;
  END;
