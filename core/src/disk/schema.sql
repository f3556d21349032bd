-- schema.sql: the disk tier's database, one file for both stores that create it: the C++ store
-- (embedded at build time, core/CMakeLists.txt) and Python's pure store (installed into the
-- package as twincache/_disk_schema.sql). Statements end with ";" at a line's end; trigger
-- bodies end in "; END".
CREATE TABLE IF NOT EXISTS meta(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  format INTEGER NOT NULL,
  items INTEGER NOT NULL DEFAULT 0,
  bytes INTEGER NOT NULL DEFAULT 0,
  hits INTEGER NOT NULL DEFAULT 0,
  misses INTEGER NOT NULL DEFAULT 0,
  sets INTEGER NOT NULL DEFAULT 0,
  evicted INTEGER NOT NULL DEFAULT 0,
  expired INTEGER NOT NULL DEFAULT 0,
  corrupt INTEGER NOT NULL DEFAULT 0,
  deleted INTEGER NOT NULL DEFAULT 0);
INSERT OR IGNORE INTO meta(id, format) VALUES (1, 1);
CREATE TABLE IF NOT EXISTS entries(
  id INTEGER PRIMARY KEY,
  key_hash BLOB NOT NULL UNIQUE,
  key BLOB NOT NULL,
  codec INTEGER NOT NULL,
  value BLOB NOT NULL,
  size INTEGER NOT NULL,
  expiry INTEGER NOT NULL,
  atime INTEGER NOT NULL,
  hmac BLOB NOT NULL,
  file TEXT);
CREATE TABLE IF NOT EXISTS doomed(file TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS entries_atime ON entries(atime);
CREATE INDEX IF NOT EXISTS entries_expiry ON entries(expiry) WHERE expiry != 0;
CREATE TRIGGER IF NOT EXISTS entries_ins AFTER INSERT ON entries BEGIN
  UPDATE meta SET items = items + 1, bytes = bytes + NEW.size WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_del AFTER DELETE ON entries BEGIN
  UPDATE meta SET items = items - 1, bytes = bytes - OLD.size WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_upd AFTER UPDATE OF size ON entries BEGIN
  UPDATE meta SET bytes = bytes - OLD.size + NEW.size WHERE id = 1; END;
CREATE TRIGGER IF NOT EXISTS entries_del_file AFTER DELETE ON entries
  WHEN OLD.file IS NOT NULL BEGIN INSERT INTO doomed(file) VALUES (OLD.file); END;
CREATE TRIGGER IF NOT EXISTS entries_upd_file AFTER UPDATE OF file ON entries
  WHEN OLD.file IS NOT NULL AND (NEW.file IS NULL OR NEW.file != OLD.file) BEGIN
  INSERT INTO doomed(file) VALUES (OLD.file); END;
