// disk_store.hpp: the persistent tier. A cache directory holds one SQLite database (WAL mode) that
// many processes, in Python and Node, read and write at once, and a per-directory secret that
// signs every entry (HMAC-SHA256). A memory tier (L1, the core's store) sits in front: reads
// promote into it, writes go through it to disk. docs/persistence.md describes the layout; the
// pure-Python implementation (python/twincache/_disk.py) writes the same files byte for byte.
//
// This target (twincache_disk) links the shared libsqlite3, libzstd and libcrypto; the main core
// (twincache_core) does not, so the memory-only bindings never depend on them.
//
// Keys are bytes (the bindings pass the canonical key encoding of docs/keys.md); each row is
// named by the key's XXH3-128 and also stores the key bytes, so a hash collision is a miss.
// Values are bytes with a codec tag (the serializer: raw, pickle, json, v8); the store compresses
// values of at least compress_threshold bytes with zstd when that saves space (codec_zstd bit).
//
// States of a disk_store:
//   persistent   the directory and its database are open; every call reads/writes SQLite.
//   memory_only  opening failed (open_or_memory): the same API over the L1 alone, bounded by
//                max_bytes (or l1_max_bytes); `why()` says what failed. Never goes back.
// fork: pthread_atfork handlers (installed with the first store) keep every live store usable
// in a child, whatever the parent's threads were doing. Before the fork they wait until no
// other thread is inside a store (each store's mu_ then queue_mu_, so a call in progress, at
// most its busy timeout, delays the fork); the parent then releases them, and the child makes
// them new. The child never touches the parent's SQLite connection (SQLite: a connection must
// not cross fork; closing it could release the parent's locks), its writer thread (gone) or
// its queued writes (the parent commits them): its first call notices the new pid and opens a
// connection of its own (ensure_process), leaking the parent's handle on purpose.
//
// Locks: mu_ (std::mutex) guards the SQLite connection, its prepared statements, the data
// version snapshot and the pending counters. Every public call takes it for its whole length, so
// one disk_store is safe from many threads (SQLite itself serializes a connection anyway). The
// L1 store has its own shard locks, taken only while mu_ is held. Nothing here calls back into a
// language runtime.
//
// L1 coherence: the directory's `generation` file holds a 64-bit random nonce that every writer
// replaces after each commit that changes entries (under an OFD write lock on the file, so
// replacements are serialized). Readers map the file and compare it with the value they last saw
// (one load: the hot path); when it moved, the whole L1 is dropped, so a value another process
// (or another disk_store) overwrote or deleted is never served from memory. A writer that finds
// the nonce it last saw before replacing it stays in step; one that finds another value drops its
// L1 at its next read. Bindings that keep their own memory tier (Python keeps the bytes objects)
// follow the same protocol through generation_change and the same file.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <initializer_list>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "twincache/clock.hpp"
#include "twincache/options.hpp"
#include "twincache/status.hpp"
#include "twincache/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace twincache::disk {

class side_worker;  // disk_store_internal.hpp: the helper thread that writes large values' files

// Serializer tags (low byte of the stored codec) and the compression bit. Frozen: on disk.
enum codec : std::uint32_t {
  codec_raw = 0,
  codec_pickle = 1,
  codec_json = 2,
  codec_v8 = 3,
  codec_array = 4,  // tcarray/1: a typed array, header + raw elements (docs/persistence.md)
  codec_arrow = 5,  // a pandas DataFrame/Series as Arrow IPC (Python only)
};
inline constexpr std::uint32_t codec_zstd = 0x100;  // value stored zstd-compressed
inline constexpr std::uint32_t codec_max = 0xFF;    // serializer tags are < 256

// The on-disk format version, stored in the meta table; a database with another one is refused.
inline constexpr std::int64_t format_version = 1;

struct options {
  std::string path;                            // the cache directory; empty: default_directory()
  std::uint64_t max_bytes = unlimited;         // budget of the database (sum of entry sizes)
  std::optional<time_ns> default_ttl;          // ns > 0; none: entries never expire
  std::uint64_t l1_max_bytes = 64ull << 20;    // memory tier budget; 0 disables it
  std::uint64_t compress_threshold = 4096;     // values of at least this many bytes try zstd
  // Stored values (after compression) of at least this many bytes go to a file of their own in
  // <dir>/blobs/ instead of the database (0: never): SQLite writes and reads large blobs page by
  // page, several times slower than a plain file.
  std::uint64_t file_threshold = 128 * 1024;
  int compression_level = 1;
  int busy_timeout_ms = 30000;
  // Reads refresh an entry's access time only when it is older than this (coarse LRU), and do
  // not write it themselves: the refresh is noted and written with the next write batch, at
  // close, or by a read this long after the oldest note (see note_touch_locked).
  time_ns atime_resolution = 1'000'000'000;
  // Write-behind: set() hands the bytes to a writer thread that signs, compresses and commits
  // queued writes in batches, one transaction per batch, waiting up to write_delay for more to
  // join. 0: set() commits before it returns (as it always does for values of file_threshold
  // bytes or more). flush(), the destructor and every call that reads
  // the database's totals or removes entries first wait for the queue to be committed.
  time_ns write_delay = 2'000'000;
  std::uint64_t write_queue_bytes = 64ull << 20;  // set() waits while more than this is queued
  // Expiry times are wall-clock ns since the Unix epoch (shared across processes). With a clock
  // in manual mode (tests) its value is used as that wall time instead.
  std::shared_ptr<::twincache::clock> clock;
};

// An entry the store removed on its own (culling to max_bytes, reclaiming expired rows) while
// removal reports are on (disk_store::report_removals). value is set (has_value) only when
// values were asked for and the row's bytes verified (HMAC) and unpacked: reading a victim's
// value costs I/O (a large value's side file is read before it is unlinked).
struct removal {
  enum class why : std::uint8_t { evicted, expired };
  std::string key;        // the encoded key
  why reason = why::evicted;
  bool has_value = false;
  std::uint32_t codec = 0;  // serializer tag (codec_zstd stripped)
  std::string value;        // plain bytes
};

// Counters of one disk_store (this process), plus the directory's sizes.
struct disk_stats {
  std::uint64_t hits = 0;       // gets that returned a value (l1_hits included)
  std::uint64_t l1_hits = 0;    // ... of which served by the memory tier
  std::uint64_t misses = 0;     // absent, expired, corrupt or colliding
  std::uint64_t sets = 0;
  std::uint64_t rejected = 0;   // sets refused: value over max_bytes
  std::uint64_t deleted = 0;    // erase() of a live key
  std::uint64_t evicted = 0;    // removed to stay within max_bytes
  std::uint64_t expired = 0;    // removed because their TTL passed
  std::uint64_t corrupt = 0;    // removed because their HMAC (or format) failed
  std::uint64_t cleared = 0;
  std::uint64_t write_errors = 0;  // batches the writer thread could not commit (see flush())
  std::uint64_t items = 0;      // live rows in the database (expired ones not yet removed too)
  std::uint64_t bytes = 0;      // sum of their sizes (key bytes + stored value bytes)
};

// What a write did to the directory's generation nonce: the value it found and the one it put.
struct generation_change {
  std::uint64_t before = 0;
  std::uint64_t after = 0;
};

// Totals a directory keeps in its meta table (every process adds its counts on its writes).
struct directory_info {
  std::string path;
  std::uint64_t items = 0, bytes = 0, file_bytes = 0;
  std::uint64_t hits = 0, misses = 0, sets = 0, evicted = 0, expired = 0, corrupt = 0,
                deleted = 0;
};

// One live entry as query() lists it (docs/persistence.md, "Tags, metadata and queries").
// Tags and a JSON meta (empty: none) written with a set() in the value's own transaction
// (docs/persistence.md, "Tags, metadata and queries").
struct tag_set {
  std::vector<std::string> tags;
  std::string meta;
};

struct entry_listing {
  std::string key;            // the encoded key
  std::uint64_t size = 0;     // key + stored value bytes
  time_ns created = 0;        // wall ns of its write; 0: written before the tags tables existed
  time_ns expiry = 0;         // wall ns, 0: never
  std::string meta;           // JSON text, empty: none
  std::vector<std::string> tags;
};

// $TWINCACHE_DIR, else $XDG_CACHE_HOME/twincache, else ~/.cache/twincache.
std::string default_directory();

// Creates `dir` (mode 0700) if needed and checks it: a directory, owned by this user, not
// group- or world-writable. Then loads its secret (creating it, mode 0600, if absent).
status prepare_directory(const std::string& dir, std::string& secret);

// Wall-clock ns: the manual value of `c` if it is in manual mode, else the system clock.
time_ns wall_now(const ::twincache::clock* c) noexcept;

class disk_store {
 public:
  // Opens (creating) the cache in o.path. Errors: out_of_range for bad options, io_error when
  // the directory or database cannot be used.
  static status open(const options& o, std::unique_ptr<disk_store>& out);
  // As open(), but when the directory cannot be used, returns a memory_only store and puts the
  // reason in `warning` (empty when the store is persistent). Bad options still fail.
  static status open_or_memory(const options& o, std::unique_ptr<disk_store>& out,
                               std::string& warning);
  ~disk_store();
  disk_store(const disk_store&) = delete;
  disk_store& operator=(const disk_store&) = delete;

  // Looks key up. found=false on a miss (absent, expired, failed HMAC: the last two are also
  // removed and counted). On a hit, codec is the serializer tag and value the plain bytes.
  // expiry, when given, receives the entry's expiry (wall ns, 0: never).
  // array_file, when given: an array or frame (codec_array, codec_arrow) kept uncompressed in
  // a side file is not read: found=true, array_file gets the file's path and value its HMAC
  // (32 bytes), for the binding to read or map the file and verify() it. Empty otherwise.
  // use=false: a read that is not use (DiskCache.peek, and the values handed to eviction
  // callbacks): nothing counted, no atime touch, no L1 fill, nothing removed; an expired row is
  // found too (expiry tells the caller), a damaged one is not. Not with array_file.
  status get(std::string_view key, bool& found, std::uint32_t& codec, std::string& value,
             time_ns* expiry = nullptr, std::string* array_file = nullptr, bool use = true);
  // Stores value (plain bytes) under key, replacing any entry. ttl overrides the default.
  // value_too_large if key + value exceed max_bytes (nothing changes). gen, when given, receives
  // the generation change of this write. tagged, when given: the entry's tags and meta, written
  // after its row in the same transaction (the tags tables created first if need be), so a
  // reader or a crash never sees the value without them (ignored by a memory-only store).
  status set(std::string_view key, std::uint32_t codec, std::string_view value,
             std::optional<time_ns> ttl = std::nullopt, generation_change* gen = nullptr,
             const tag_set* tagged = nullptr);
  // As set(), for a value given in two pieces (a small header, then a body the caller keeps
  // unchanged until this returns) stored as their concatenation, never compressed. A value of
  // file_threshold bytes or more is written to its file and signed from the two pieces (no copy
  // of the body), so a side file's body sits at offset head.size() (get(array_file) names it).
  status set_parts(std::string_view key, std::uint32_t codec, std::string_view head,
                   std::string_view body, std::optional<time_ns> ttl = std::nullopt,
                   generation_change* gen = nullptr, const tag_set* tagged = nullptr);
  // Whether head + body is the value of key with this codec under HMAC mac (as signed by this
  // directory's secret). Counted as a hit; a false one is not counted: the caller's get()
  // without array_file then meets the damage, counts and removes it.
  bool verify(std::string_view key, std::uint32_t codec, std::string_view head,
              std::string_view body, std::string_view mac);
  // Tags and metadata (core/src/disk/tags.cpp). tag(): adds tags and a JSON meta (empty: none)
  // to key's committed entry (queued writes are committed first), in one transaction; a missing
  // key gets nothing. query(): live entries, those with `tag` when it is non-empty and whose
  // meta has each (JSON path, JSON value) of `where`, without reading values, oldest access
  // first. evict_tag(): deletes every entry tagged `tag` in one transaction. Each creates the
  // tags tables first if the directory has none (the migration).
  status tag(std::string_view key, const std::vector<std::string>& tags, std::string_view meta);
  status query(std::string_view tag,
               const std::vector<std::pair<std::string, std::string>>& where,
               std::vector<entry_listing>& out);
  status evict_tag(std::string_view tag, std::uint64_t& removed);
  // Removal reports, for bindings with an eviction callback (docs/persistence.md, "Freshness
  // and control"). Off by default. When on, the rows this store removes on its own (culling to
  // max_bytes, and expired rows reclaimed by a write batch or prune(), whichever thread commits
  // them: the write-behind writer too) are kept, once their transaction commits, until
  // take_removals() hands them over; values=true also reads each victim's value (HMAC checked,
  // decompressed; one side-file read per large value). Removals made by get() (an expired or
  // damaged row it meets), erase(), clear() and evict_tag() are not reported here: the caller
  // knows them. Rows other processes remove are never seen. has_removals() is one atomic load.
  void report_removals(bool on, bool values);
  bool has_removals() const noexcept { return has_removals_.load(std::memory_order_acquire); }
  std::vector<removal> take_removals();
  // Waits until every set() made before this call is committed; returns (and forgets) the
  // error of a batch the writer thread could not commit since the last flush().
  status flush();
  // A counter that moves whenever this store found its memory tier stale (another writer
  // changed the directory): bindings with a memory tier of their own drop it when it moves.
  // Lock-free: one load of the mapped generation file.
  std::uint64_t l1_epoch() noexcept {
    if (gen_map_ != nullptr) l1_still_valid();
    return epoch_.load(std::memory_order_acquire);
  }
  // Removes key; existed says whether a live entry was there.
  status erase(std::string_view key, bool& existed);
  // Whether key is live (no HMAC check, no promotion, no counters).
  status contains(std::string_view key, bool& found);
  // Removes every entry of the directory.
  status clear(std::uint64_t& removed);
  // Removes expired entries, then evicts down to max_bytes. Returns how many rows went.
  status prune(std::uint64_t& removed);
  // The keys of live entries (oldest access first).
  // expired=true: the expired rows not yet removed instead (soonest expired first).
  status keys(std::vector<std::string>& out, bool expired = false);
  // Number of live entries.
  status count(std::uint64_t& out);
  status stats(disk_stats& out);
  status info(directory_info& out);
  // Zeroes this process's counters.
  void reset_stats();
  // Counts n hits that a binding's own memory tier served (they reach the directory's counters
  // with the next write, like the store's own).
  void note_hits(std::uint64_t n);

  bool persistent() const noexcept { return db_ != nullptr; }
  const std::string& path() const noexcept { return path_; }
  const std::string& why() const noexcept { return why_; }
  const options& opts() const noexcept { return opts_; }
  // The directory's current generation nonce (0 for a memory-only store).
  std::uint64_t generation() const noexcept {
    return gen_map_ != nullptr ? __atomic_load_n(gen_map_, __ATOMIC_ACQUIRE) : 0;
  }

  // For tests: the L1 alone (drops it), and flipping bytes of a stored row.
  void drop_l1();

  // A damaged or foreign cache.db that this store moved aside (docs/persistence.md, "Damaged
  // databases") leaves one message for the binding to show as a warning. has_warning() is one
  // atomic load (bindings check it after each call); take_warning() returns the message once.
  bool has_warning() const noexcept { return has_warning_.load(std::memory_order_acquire); }
  std::string take_warning();

  // fork handlers (pthread_atfork, installed by the first store); public for the C-linkage
  // trampolines. See "fork" at the top of this file.
  static void fork_prepare() noexcept;
  static void fork_parent() noexcept;
  static void fork_child() noexcept;

 private:
  struct l1_value {
    std::uint32_t codec = 0;
    std::string bytes;
    time_ns expiry = 0;  // wall ns, 0: never
  };
  using l1_ptr = std::shared_ptr<const l1_value>;
  struct stmt_set;
  // A write ready for SQLite: signed, maybe compressed.
  struct prepared_write {
    std::string key;
    std::uint32_t codec = 0, full_codec = 0;
    std::string stored;         // empty when the value went to a file
    std::uint64_t stored_size = 0;
    std::string file;           // the file's name in blobs/, or empty
    std::array<std::uint8_t, 32> mac{};
    time_ns expiry = 0, atime = 0;
    std::shared_ptr<const tag_set> tagged;  // written after the row, in its transaction
  };
  // A set() waiting for the writer thread. Either the caller's bytes, copied (`value`), or, for
  // a large value, the write already prepared on the caller's thread (`prepared`: its file is
  // written and it is signed; `value` stays empty, so no copy of the bytes is kept).
  struct queued_write {
    std::string key;
    std::uint32_t codec = 0;
    std::string value;
    std::optional<prepared_write> prepared;
    std::shared_ptr<const tag_set> tagged;
    time_ns expiry = 0, atime = 0;
    std::uint64_t seq = 0;
    // What it counts against write_queue_bytes.
    std::uint64_t weight() const noexcept {
      return key.size() + value.size() + (prepared ? prepared->stored.size() : 0) + 64;
    }
  };

  explicit disk_store(const options& o);
  status open_db();
  void close_db() noexcept;
  status ensure_process();  // reopens after fork
  bool l1_still_valid();    // compares the generation nonce; drops L1 when it moved
  status open_generation();
  void bump_generation(generation_change* out);
  status exec(const char* sql);
  status sqlite_error(const char* what);
  // Damage and full disks (docs/persistence.md). damaged(): the last SQLite error said the
  // database is corrupt, not a database, or not twincache's (foreign_). move_aside_locked()
  // renames cache.db (and its -wal, -shm) to cache.db.corrupt-<time>-<pid>, unless another
  // process already did, and opens a fresh one; recover_locked(st) does that when st failed on
  // a damaged database (then the caller answers as for an empty cache). make_room_locked():
  // after SQLITE_FULL, gives back the reserve file and truncates the WAL; true if it freed any.
  bool damaged() const noexcept;
  bool full() const noexcept;
  status move_aside_locked(const std::string& why);
  status ensure_tags_locked();  // runs tags.sql once per connection
  // The tags and meta of key's row, inside the caller's write transaction (tag(), and a set()
  // with tags: write_locked).
  status write_tags_locked(std::string_view key, const std::vector<std::string>& tags,
                           std::string_view meta);
  bool tags_ready_ = false;
  status recover_locked(status st);
  bool make_room_locked();
  void ensure_reserve() const;
  status clear_in_batches_locked(std::uint64_t& removed);
  status begin_write();
  status commit();
  void rollback() noexcept;
  status evict_locked(std::uint64_t& evicted);
  prepared_write prepare(std::string key, std::uint32_t codec, std::string_view value,
                         time_ns expiry, time_ns atime) const;
  bool sample_compresses(std::string_view value) const;
  status write_locked(const prepared_write& w);
  status commit_batch_locked(const std::vector<prepared_write>& batch, generation_change* gen,
                             bool retried = false);
  void writer_loop();
  bool write_blob(std::string_view data, std::string& name) const {
    return write_blob_parts({data}, name);
  }
  bool write_blob_parts(std::initializer_list<std::string_view> parts, std::string& name) const;
  bool read_blob(std::string_view name, std::string& out) const;
  void unlink_blob(std::string_view name) const;
  // Files of rows deleted or replaced in this transaction (the schema's triggers list them).
  status take_doomed_locked(std::vector<std::string>& out);
  void sweep_orphans_locked();
  void stop_writer() noexcept;
  bool queued_get(std::string_view key, std::uint32_t& codec, std::string& value,
                  time_ns* expiry);
  // The value of a prepared write (its file read and checked, or its bytes; decompressed).
  bool unpack_prepared(const prepared_write& w, std::string& value) const;
  void enqueue(std::shared_ptr<queued_write> w);
  status purge_expired_locked(time_ns now, int limit, std::uint64_t& removed);
  // With reports on: the rows a purge/evict statement (DELETE ... RETURNING key, codec, value,
  // file, hmac) gives, staged until the transaction commits (publish_removals_locked) or is
  // rolled back (staged_.clear()).
  status collect_removals_locked(sqlite3_stmt* s, removal::why why, std::uint64_t& n);
  void publish_removals_locked();
  // Deletes row id if it still has this hmac (another process may have rewritten it).
  status remove_row_locked(std::int64_t id, const void* hmac, std::uint64_t disk_stats::*counter);
  status flush_counters_locked();
  // Access times noted by reads, written later (see note_touch_locked in disk_store.cpp).
  void note_touch_locked(std::int64_t id, time_ns t);
  status write_touches_locked();
  static constexpr std::size_t max_touches = 1024;
  std::array<std::uint8_t, 32> sign(std::string_view key, std::uint32_t codec,
                                    std::string_view stored,
                                    std::string_view more = {}) const;
  time_ns now() const noexcept { return wall_now(clock_.get()); }
  void l1_put(std::string_view key, std::uint32_t codec, std::string value, time_ns expiry);
  bool memory_get(std::string_view key, std::uint32_t& codec, std::string& value,
                  time_ns* expiry);

  options opts_;
  std::string path_;
  std::string why_;
  std::string secret_;
  std::shared_ptr<::twincache::clock> clock_;
  std::unique_ptr<store<l1_ptr>> l1_;

  std::mutex mu_;  // guards everything below (and the SQLite connection)
  sqlite3* db_ = nullptr;
  std::unique_ptr<stmt_set> st_;
  long pid_ = 0;
  int last_rc_ = 0;           // primary code of the last SQLite error (sqlite_error, exec)
  bool foreign_ = false;      // open_db(): the file is a database, but not one of ours
  std::uint64_t db_ino_ = 0;  // inode of the cache.db this connection opened
  std::string warning_;       // see take_warning()
  std::atomic<bool> has_warning_{false};
  int gen_fd_ = -1;                         // <dir>/generation, for writes (pread/pwrite)
  const std::uint64_t* gen_map_ = nullptr;  // the same 8 bytes, mapped shared, for reads
  std::atomic<std::uint64_t> gen_seen_{0};  // the nonce the L1 is valid for
  std::atomic<std::uint64_t> epoch_{0};     // moves when the L1 was found stale
  std::uint64_t sets_since_purge_ = 0;
  disk_stats counts_;          // this process's counters
  // Deltas not yet added to the directory's meta table (flushed with the next write).
  disk_stats pending_;
  // Access times read hits noted (row id, time), not yet written; the oldest noted at
  // touches_since_. Written with the next write batch, at the latest atime_resolution later.
  std::vector<std::pair<std::int64_t, time_ns>> touches_;
  time_ns touches_since_ = 0;
  // Removal reports (report_removals): off/on, with values; staged_ holds the current
  // transaction's victims, removals_ the committed ones not yet taken.
  bool report_ = false, report_values_ = false;
  std::vector<removal> staged_, removals_;
  std::atomic<bool> has_removals_{false};

  // The write-behind queue. queue_mu_ guards everything below; never held while SQLite runs.
  // Lock order: mu_ -> queue_mu_ (set() takes them one after the other, never nested the other
  // way; the writer thread holds neither while it signs and compresses).
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;  // wakes the writer (new writes, flush, stop)
  std::condition_variable done_cv_;   // wakes flush() and set()s waiting for queue room
  std::vector<std::shared_ptr<const queued_write>> queue_;
  std::unordered_map<std::string, std::shared_ptr<const queued_write>> pending_by_key_;
  std::uint64_t queue_bytes_ = 0;
  std::uint64_t enqueued_ = 0, committed_ = 0;  // sequence numbers of queued writes
  unsigned flush_waiters_ = 0;
  bool stop_ = false;
  status last_write_error_;
  std::uint64_t write_errors_ = 0;
  std::unique_ptr<std::thread> writer_;  // started by the first queued set()

  // Writes a large value's side file while the caller signs it (prepare()); its thread starts
  // with the first such value. Guarded by its own mutex.
  std::unique_ptr<side_worker> side_;
};

}  // namespace twincache::disk
