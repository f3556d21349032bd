'use strict';
// inflight.js: one loader call per key at a time, shared by Cache.fetch and ByteCache.fetch.
// Concurrent fetches of a key get the same promise; its resolved value is handed to `store`
// (once, and only if no later load replaced it); a rejection is stored nowhere, reaches every
// waiter, and the next fetch calls the loader again.

function shareLoad(inflight, key, loader, store) {
  const pending = inflight.get(key);
  if (pending !== undefined) return pending;
  let result;
  try {
    result = loader(key);
  } catch (err) {
    return Promise.reject(err);
  }
  const p = Promise.resolve(result).then(
    (value) => {
      if (inflight.get(key) === p) {
        inflight.delete(key);
        store(value);
      }
      return value;
    },
    (err) => {
      if (inflight.get(key) === p) inflight.delete(key);
      throw err;
    },
  );
  inflight.set(key, p);
  return p;
}

module.exports = { shareLoad };
