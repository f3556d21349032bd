// disk_store_write.cpp: the disk_store's writes (disk_store.hpp): compressing and signing a
// value (prepare), committing one or a batch of them, set and set_parts, verify, and the
// write-behind queue with its writer thread (enqueue, writer_loop, flush, queued_get).
#include "disk_store_internal.hpp"

namespace twincache::disk {

// Whether the first compress_sample bytes of value compress by at least 1/16 (value is longer).
bool disk_store::sample_compresses(std::string_view value) const {
  std::string out(ZSTD_compressBound(compress_sample), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), value.data(), compress_sample,
                                      opts_.compression_level);
  return !ZSTD_isError(n) && n < compress_sample - compress_sample / 16;
}

disk_store::prepared_write disk_store::prepare(std::string key, std::uint32_t codec,
                                               std::string_view value, time_ns expiry,
                                               time_ns atime) const {
  prepared_write w;
  w.codec = codec;
  w.expiry = expiry;
  w.atime = atime;
  std::string packed;
  bool compressed = false;
  bool try_compress = value.size() >= opts_.compress_threshold && opts_.compress_threshold != 0;
  // Large values: a sample first, so incompressible data (media, random bytes, already
  // compressed arrays) costs one 64 KiB attempt, not a pass over the whole value.
  const bool sample_first = try_compress && value.size() > 2 * compress_sample;
  bool to_file = false;
  bool written_raw = false;  // the side worker found the value incompressible and wrote it
  std::array<std::uint8_t, 32> raw_mac{};
  if (sample_first && opts_.file_threshold != 0 && value.size() >= opts_.file_threshold &&
      value.size() >= parallel_write_bytes) {
    // A value for a file of its own: the side worker samples it and, if the sample does not
    // compress, writes it, while this thread signs it as it is. That bets on incompressible
    // data, what large values mostly are; a value that compresses wastes the signature and is
    // compressed below. Saves the sample's 25-40 µs on the caller's side of a 1 MiB set.
    if (side_->try_start([&] {
          written_raw = !sample_compresses(value);
          if (written_raw) to_file = write_blob(value, w.file);
        })) {
      raw_mac = sign(key, codec, value);
      side_->wait();
      try_compress = !written_raw;
    } else {
      try_compress = sample_compresses(value);
    }
  } else if (sample_first) {
    try_compress = sample_compresses(value);
  }
  if (try_compress) {
    packed.resize(ZSTD_compressBound(value.size()));
    const std::size_t n = ZSTD_compress(packed.data(), packed.size(), value.data(), value.size(),
                                        opts_.compression_level);
    if (!ZSTD_isError(n) && n < value.size() - value.size() / 16) {
      packed.resize(n);
      compressed = true;
    }
  }
  const std::string_view stored = compressed ? std::string_view(packed) : value;
  w.full_codec = compressed ? (codec | codec_zstd) : codec;
  w.stored_size = stored.size();
  // Large values go to a file straight from the caller's bytes (no copy); the row keeps an
  // empty value and the file's name. From parallel_write_bytes on, the side worker's thread
  // writes the file while this one computes the HMAC (both read the same bytes, which the caller
  // keeps alive and unchanged until prepare() returns: the job is waited for first).
  if (written_raw) {
    w.mac = raw_mac;  // and the file is written (to_file), unless that failed
  } else if (opts_.file_threshold != 0 && stored.size() >= opts_.file_threshold) {
    if (stored.size() >= parallel_write_bytes &&
        side_->try_start([&] { to_file = write_blob(stored, w.file); })) {
      w.mac = sign(key, w.full_codec, stored);
      side_->wait();
    } else {
      to_file = write_blob(stored, w.file);
      w.mac = sign(key, w.full_codec, stored);
    }
  } else {
    w.mac = sign(key, w.full_codec, stored);
  }
  if (!to_file) {
    if (compressed) {
      w.stored = std::move(packed);
    } else {
      w.stored.assign(value);
    }
  }
  w.key = std::move(key);
  return w;
}

status disk_store::write_locked(const prepared_write& w) {
  const auto kh = key_hash_of(w.key);
  sqlite3_stmt* s = st_->upsert.get();
  reset_guard rg{s};
  bind_blob(s, 1, kh.data(), kh.size());
  bind_blob(s, 2, w.key.data(), w.key.size());
  sqlite3_bind_int64(s, 3, w.full_codec);
  bind_blob(s, 4, w.stored.data(), w.stored.size());
  sqlite3_bind_int64(s, 5, static_cast<sqlite3_int64>(w.key.size() + w.stored_size));
  sqlite3_bind_int64(s, 6, w.expiry);
  sqlite3_bind_int64(s, 7, w.atime);
  bind_blob(s, 8, w.mac.data(), w.mac.size());
  if (w.file.empty()) {
    sqlite3_bind_null(s, 9);
  } else {
    sqlite3_bind_text(s, 9, w.file.data(), static_cast<int>(w.file.size()), SQLITE_STATIC);
  }
  if (sqlite3_step(s) != SQLITE_DONE) return sqlite_error("INSERT");
  if (w.tagged) return write_tags_locked(w.key, w.tagged->tags, w.tagged->meta);
  return {};
}

// One transaction for a batch of writes: the upserts, then expiry and the budget, the counters.
status disk_store::commit_batch_locked(const std::vector<prepared_write>& batch,
                                       generation_change* gen, bool retried) {
  status st;
  for (const prepared_write& w : batch) {
    if (w.tagged) {  // the tables and triggers before the rows: tags.sql, outside the batch
      st = ensure_tags_locked();
      break;
    }
  }
  if (st.ok()) st = begin_write();
  for (const prepared_write& w : batch) {
    if (!st.ok()) break;
    st = write_locked(w);
  }
  if (st.ok()) st = write_touches_locked();  // before eviction reads atime
  sets_since_purge_ += batch.size();
  if (st.ok() && sets_since_purge_ >= 64) {
    sets_since_purge_ = 0;
    std::uint64_t purged = 0;
    st = purge_expired_locked(now(), 64, purged);
  }
  std::uint64_t evicted = 0;
  if (st.ok() && opts_.max_bytes != unlimited) st = evict_locked(evicted);
  pending_.sets += batch.size();
  std::vector<std::string> doomed;
  if (st.ok()) st = flush_counters_locked();
  if (st.ok()) st = take_doomed_locked(doomed);
  if (st.ok()) st = commit();
  if (!st.ok()) {
    pending_.sets -= batch.size();
    staged_.clear();
    rollback();
    // A damaged database: moved aside, the batch goes to the fresh one.
    if (!retried && damaged() && move_aside_locked(st.message()).ok()) {
      return commit_batch_locked(batch, gen, true);
    }
    for (const prepared_write& w : batch) {
      if (!w.file.empty()) unlink_blob(w.file);
    }
    return st;
  }
  for (const std::string& f : doomed) unlink_blob(f);
  publish_removals_locked();
  pending_ = {};
  touches_.clear();
  counts_.sets += batch.size();
  if (l1_) l1_still_valid();  // drops the L1 if another writer went before us
  bump_generation(gen);
  return {};
}

status disk_store::set(std::string_view key, std::uint32_t codec, std::string_view value,
                       std::optional<time_ns> ttl, generation_change* gen,
                       const tag_set* tagged) {
  if (codec > codec_max) {
    return {status_code::out_of_range, "codec must be in [0, 255] (got " +
                                           std::to_string(codec) + ")"};
  }
  if (ttl && *ttl <= 0) return {status_code::out_of_range, "ttl must be > 0"};
  if (gen != nullptr) *gen = {};
  const std::uint64_t plain_size = key.size() + value.size();
  std::unique_lock g(mu_);
  if (opts_.max_bytes != unlimited && plain_size > opts_.max_bytes) {
    ++counts_.rejected;
    return {status_code::value_too_large,
            "entry of " + std::to_string(plain_size) + " bytes exceeds max_bytes (" +
                std::to_string(opts_.max_bytes) + "); the cache is unchanged"};
  }
  if (status st = ensure_process(); !st.ok()) return st;
  const time_ns t = now();
  const std::optional<time_ns> life = ttl ? ttl : opts_.default_ttl;
  const time_ns expiry = life ? t + *life : 0;
  if (db_ == nullptr) {
    auto v = std::make_shared<l1_value>();
    v->codec = codec;
    v->expiry = expiry;
    v->bytes.assign(value);
    if (!l1_->set(key, hash64(key), l1_ptr(std::move(v)), value.size(), life).ok()) {
      ++counts_.rejected;
      return {status_code::value_too_large, "entry exceeds the memory budget"};
    }
    ++counts_.sets;
    return {};
  }
  // Synchronous (committed when set() returns) when asked. Earlier queued writes commit first,
  // so writes of one key stay in order.
  if (opts_.write_delay <= 0) {
    g.unlock();
    flush().ok();
    std::vector<prepared_write> one;
    one.push_back(prepare(std::string(key), codec, value, expiry, t));
    if (tagged != nullptr) one.back().tagged = std::make_shared<const tag_set>(*tagged);
    g.lock();
    if (status st = commit_batch_locked(one, gen); !st.ok()) return st;
    if (l1_ && l1_still_valid()) l1_put(key, codec, std::string(value), expiry);
    return {};
  }
  if (l1_ && l1_still_valid()) l1_put(key, codec, std::string(value), expiry);
  g.unlock();

  auto w = std::make_shared<queued_write>();
  w->key.assign(key);
  w->codec = codec;
  w->expiry = expiry;
  w->atime = t;
  if (tagged != nullptr) w->tagged = std::make_shared<const tag_set>(*tagged);
  if (opts_.file_threshold != 0 && value.size() >= opts_.file_threshold) {
    // Large values are written to their file and signed here, from the caller's bytes: handing
    // megabytes to another thread would cost a copy (and its page faults). Only the row waits
    // for the writer's next batch, which saves the caller a transaction of its own (~180 µs,
    // checkpoints included: more than a fifth of a 1 MiB set).
    w->prepared = prepare(w->key, codec, value, expiry, t);
  } else {
    w->value.assign(value);  // hot path for writers: one copy
  }
  enqueue(std::move(w));
  return {};
}

status disk_store::set_parts(std::string_view key, std::uint32_t codec, std::string_view head,
                             std::string_view body, std::optional<time_ns> ttl,
                             generation_change* gen, const tag_set* tagged) {
  const std::uint64_t total = head.size() + body.size();
  if (db_ == nullptr || opts_.file_threshold == 0 || total < opts_.file_threshold ||
      opts_.write_delay <= 0 || codec > codec_max || (ttl && *ttl <= 0)) {
    // Small (one copy is cheap), memory-only or synchronous stores: the plain path.
    std::string joined;
    joined.reserve(total);
    joined.append(head).append(body);
    return set(key, codec, joined, ttl, gen, tagged);
  }
  if (gen != nullptr) *gen = {};
  std::unique_lock g(mu_);
  if (opts_.max_bytes != unlimited && key.size() + total > opts_.max_bytes) {
    ++counts_.rejected;
    return {status_code::value_too_large,
            "entry of " + std::to_string(key.size() + total) + " bytes exceeds max_bytes (" +
                std::to_string(opts_.max_bytes) + "); the cache is unchanged"};
  }
  if (status st = ensure_process(); !st.ok()) return st;
  const time_ns t = now();
  const std::optional<time_ns> life = ttl ? ttl : opts_.default_ttl;
  const time_ns expiry = life ? t + *life : 0;
  if (l1_) l1_->erase(key);  // the L1 holds values of the plain path only
  g.unlock();
  auto w = std::make_shared<queued_write>();
  w->key.assign(key);
  w->codec = codec;
  w->expiry = expiry;
  w->atime = t;
  prepared_write p;
  p.key = w->key;
  p.codec = p.full_codec = codec;
  p.expiry = expiry;
  p.atime = t;
  p.stored_size = total;
  // The side worker writes the file while this thread signs the same two pieces.
  bool to_file = false;
  if (total >= parallel_write_bytes &&
      side_->try_start([&] { to_file = write_blob_parts({head, body}, p.file); })) {
    p.mac = sign(key, codec, head, body);
    side_->wait();
  } else {
    to_file = write_blob_parts({head, body}, p.file);
    p.mac = sign(key, codec, head, body);
  }
  if (!to_file) {  // no file (a full disk, say): the row keeps the bytes, as set() does
    p.file.clear();
    p.stored.reserve(total);
    p.stored.append(head).append(body);
  }
  if (tagged != nullptr) p.tagged = w->tagged = std::make_shared<const tag_set>(*tagged);
  w->prepared = std::move(p);
  enqueue(std::move(w));
  return {};
}

bool disk_store::verify(std::string_view key, std::uint32_t codec, std::string_view head,
                        std::string_view body, std::string_view mac) {
  const auto want = sign(key, codec, head, body);
  const auto* m = reinterpret_cast<const std::uint8_t*>(mac.data());
  const bool ok = mac.size() == 32 && digest_equal(want.data(), m, 32);
  if (ok) {
    std::lock_guard g(mu_);
    ++counts_.hits;
    ++pending_.hits;
  }
  return ok;
}

// Write-behind: hands a write to the writer thread (waiting while the queue is over its
// budget) and starts the thread with the first one.
void disk_store::enqueue(std::shared_ptr<queued_write> w) {
  const std::uint64_t weight = w->weight();
  std::unique_lock q(queue_mu_);
  done_cv_.wait(q, [&] { return queue_bytes_ < opts_.write_queue_bytes || stop_; });
  w->seq = ++enqueued_;
  queue_bytes_ += weight;
  pending_by_key_[w->key] = w;
  queue_.push_back(std::move(w));
  if (!writer_) writer_ = std::make_unique<std::thread>([this] { writer_loop(); });
  q.unlock();
  queue_cv_.notify_one();
}

// The writer thread (write-behind): waits for queued writes, gives later ones up to write_delay
// to join, signs and compresses the batch without any lock, then commits it in one transaction.
// Never touches a language value: it only sees copied bytes.
void disk_store::writer_loop() {
  std::vector<std::shared_ptr<const queued_write>> batch;
  std::vector<prepared_write> prepared;
  std::unique_lock q(queue_mu_);
  for (;;) {
    queue_cv_.wait(q, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stop_ and nothing left
    if (!stop_ && flush_waiters_ == 0) {
      queue_cv_.wait_for(q, std::chrono::nanoseconds(opts_.write_delay), [&] {
        return stop_ || flush_waiters_ != 0 || queue_.size() >= 256 ||
               queue_bytes_ >= (8u << 20);
      });
    }
    batch.swap(queue_);
    q.unlock();
    prepared.clear();
    prepared.reserve(batch.size());
    for (const auto& w : batch) {
      prepared.push_back(w->prepared ? *w->prepared
                                     : prepare(w->key, w->codec, w->value, w->expiry, w->atime));
      prepared.back().tagged = w->tagged;
    }
    status st;
    {
      std::lock_guard g(mu_);
      st = db_ != nullptr ? commit_batch_locked(prepared, nullptr) : status{};
    }
    q.lock();
    std::size_t weight = 0;
    for (const auto& w : batch) {
      weight += w->weight();
      auto it = pending_by_key_.find(w->key);
      if (it != pending_by_key_.end() && it->second == w) pending_by_key_.erase(it);
      committed_ = std::max(committed_, w->seq);
    }
    queue_bytes_ -= weight;
    if (!st.ok()) {
      last_write_error_ = st;
      ++write_errors_;
    }
    batch.clear();
    done_cv_.notify_all();
  }
}

status disk_store::flush() {
  if (pid_ != static_cast<long>(::getpid())) return {};  // a forked child: nothing of ours queued
  std::unique_lock q(queue_mu_);
  if (!writer_) return {};
  const std::uint64_t target = enqueued_;
  ++flush_waiters_;
  queue_cv_.notify_one();
  done_cv_.wait(q, [&] { return committed_ >= target; });
  --flush_waiters_;
  status st = std::move(last_write_error_);
  last_write_error_ = {};
  return st;
}

// Read-your-writes for a value still queued (the L1 may be off or may have dropped it).
bool disk_store::queued_get(std::string_view key, std::uint32_t& codec, std::string& value,
                            time_ns* expiry) {
  std::shared_ptr<const queued_write> w;
  {
    std::lock_guard q(queue_mu_);
    if (pending_by_key_.empty()) return false;
    auto it = pending_by_key_.find(std::string(key));
    if (it == pending_by_key_.end()) return false;
    w = it->second;
  }
  if (w->expiry != 0 && now() >= w->expiry) return false;
  if (w->prepared) {
    if (!unpack_prepared(*w->prepared, value)) return false;
  } else {
    value = w->value;
  }
  codec = w->codec;
  if (expiry != nullptr) *expiry = w->expiry;
  return true;
}

bool disk_store::unpack_prepared(const prepared_write& w, std::string& value) const {
  std::string from_file;
  std::string_view stored = w.stored;
  if (!w.file.empty()) {
    // The file is in a shared directory until its row commits: checked like any stored value.
    from_file = std::move(value);
    if (!read_blob(w.file, from_file)) return false;
    stored = from_file;
    const auto want = sign(w.key, w.full_codec, stored);
    if (!digest_equal(want.data(), w.mac.data(), 32)) return false;
  }
  if ((w.full_codec & codec_zstd) != 0) {
    const unsigned long long n = ZSTD_getFrameContentSize(stored.data(), stored.size());
    if (!plausible_zstd_size(n, stored.size())) return false;
    std::string out(static_cast<std::size_t>(n), '\0');
    const std::size_t r = ZSTD_decompress(out.data(), out.size(), stored.data(), stored.size());
    if (ZSTD_isError(r) || r != n) return false;
    value = std::move(out);
  } else if (!w.file.empty()) {
    value = std::move(from_file);
  } else {
    value.assign(stored);
  }
  return true;
}

void disk_store::stop_writer() noexcept {
  {
    std::lock_guard q(queue_mu_);
    stop_ = true;
  }
  queue_cv_.notify_all();
  if (writer_ && writer_->joinable()) writer_->join();
  writer_.reset();
}

}  // namespace twincache::disk
