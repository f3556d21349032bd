"""The pure-Python port of the core's default eviction policy, adaptive W-TinyLFU.

A line-by-line port of core/include/twincache/policy_tinylfu.hpp (design, constants and the
experiments behind them: docs/hit-ratio.md), so that pure mode (TWINCACHE_PURE=1) keeps the
native module's hit ratio. The same parts, the same constants, the same decisions:
  * window (an LRU every new entry enters), probation and protected (main, a segmented LRU);
  * TinyLFU admission of the window's candidate against main's victim on a 4-bit count-min
    sketch (4 counters per key in one block of 8 x 16 counters, halved every 10 x entries
    additions), with a 1/128 chance for a warm loser and recency ties while the cache is cold;
  * ghost steering of the window's share (recently evicted keys' fingerprints);
  * the LRU duel (a sampled miniature LRU; it latches the policy into exact LRU when LRU wins)
    and its sleep;
  * the hill climber (off by default, as in the core).
What differs is representation only, for Python's speed: slots index flat lists (links, region,
weight, sketch key and its ghost hash, the key's four counter indexes), each region's list is
circular through a sentinel slot (0 window, 1 probation, 2 protected; entries' slots start at 3),
the sketch keeps one counter per byte of a bytearray (each key's counters chosen by the same bits,
so keys share counters exactly as in the core), victim() and on_remove() are one call (evict()),
and the slots are allocated here (LIFO reuse, the slot table doubling like the entry table's
records). Fed the replay tool's hashes, it reproduces the tool's hit ratios on every CI cell to
0.01; the pure table feeds it hash64_int(hash(key)), what the native binding gives the core.
Single-threaded, like the core's policies: the owner (pure _Table) holds its lock.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Final

_M64: Final = 0xFFFFFFFFFFFFFFFF
_GOLDEN: Final = 0x9E3779B97F4A7C15
_GOLDEN_INVERSE: Final = pow(_GOLDEN, -1, 1 << 64)

# Regions, as in the core; also the sentinel slots of the three lists.
WINDOW: Final = 0
PROBATION: Final = 1
PROTECTED: Final = 2
ABSENT: Final = 3
FIRST_SLOT: Final = 3  # slots below are the lists' sentinels
NO_SLOT: Final = -1

# The access flags (the core's access_flags): any set sends a hit down the general path.
_DUEL_ON: Final = 1  # sampling (duel configured, capacity bounded, not latched, awake)
_MIGRATING: Final = 2  # latched with duel_migrate, main not drained: its hits move over
_COLD: Final = 4  # nothing seen twice yet: admission breaks ties by recency
_GENERAL: Final = 8  # the climber or count_protected_hits is configured

_MAX_COUNT: Final = 15
# A counter's saturating increment, by table: v -> min(v + 1, 15).
_INC: Final = bytes(min(v + 1, _MAX_COUNT) for v in range(256))
# Halving every counter at once: byte b -> b >> 1 (the core's (w >> 1) & 0x7777...).
_HALVE: Final = bytes(b >> 1 for b in range(256))


def sketch_key(hash_value: int) -> int:
    """The key the sketch, the ghosts and the duel see for a hash (the core's sketch_key():
    a multiplicative mix of the 64-bit hash, so that small integer hashes spread too)."""
    return (((hash_value & _M64) * _GOLDEN) & _M64) >> 32


# XXH3-64 of 8 bytes with the default secret and seed 0 (XXH3_len_4to8_64b): the bit flip is
# readLE64(secret + 8) ^ readLE64(secret + 16), the multiplier PRIME_MX2.
_XXH3_BITFLIP: Final = 0x1CAD21F72C81017C ^ 0xDB979083E96DD4DE
_XXH3_MX2: Final = 0x9FB21C651E98DF25


def hash64_int(hash_value: int) -> int:
    """The 64-bit hash the native binding gives the core for a key whose Python hash() is
    hash_value: core/include/twincache/hash.hpp's hash64_int, XXH3-64 of its 8 little-endian
    bytes (ints hash to themselves, so an int key gets what Node and the replay tool give it).
    The same input as native mode's policy, so both modes evict the same entries."""
    v = hash_value & _M64
    x = (((v >> 32) & 0xFFFFFFFF) | ((v & 0xFFFFFFFF) << 32)) ^ _XXH3_BITFLIP
    x ^= (((x << 49) | (x >> 15)) ^ ((x << 24) | (x >> 40))) & _M64
    x = (x * _XXH3_MX2) & _M64
    x ^= (x >> 35) + 8
    x = (x * _XXH3_MX2) & _M64
    return x ^ (x >> 28)


def _bit_ceil(x: int) -> int:
    return 1 if x <= 1 else 1 << (x - 1).bit_length()


def _scale(share: float, budget: int) -> int:
    """share x budget (policy_tinylfu.hpp's scale())."""
    v = share * float(budget)
    return budget if v >= float(budget) else int(v)


class TinyLFUConfig:
    """The policy's tunables (tinylfu_config); the defaults are the shipped policy."""

    __slots__ = (
        "climber",
        "cold_ties",
        "count_protected_hits",
        "duel",
        "duel_margin",
        "duel_memory",
        "duel_migrate",
        "duel_min_epochs",
        "duel_min_rate",
        "duel_mini_entries",
        "duel_miss_margin",
        "duel_sigma",
        "duel_sleep",
        "flat_decay",
        "ghost_delta",
        "ghost_min_reach",
        "ghost_reach",
        "ghost_table",
        "ghosts",
        "initial_step",
        "initial_window",
        "min_step",
        "protected_share",
        "random_admit_mask",
        "sample_factor",
        "sketch_words",
        "step_shrink",
        "tolerance",
        "warm_threshold",
    )

    def __init__(self) -> None:
        self.initial_window = 0.01
        self.protected_share = 0.80
        self.ghosts = True
        self.ghost_reach = 0.03
        self.ghost_delta = 2.0
        self.ghost_table = 0.5
        self.ghost_min_reach = 12.0
        self.sketch_words = 0.5
        self.climber = False
        self.sample_factor = 10.0
        self.initial_step = 0.0625
        self.min_step = 0.005
        self.step_shrink = 0.5
        self.tolerance = 0.005
        self.flat_decay = 0.98
        self.count_protected_hits = False
        self.duel = True
        self.duel_min_rate = 8
        self.duel_mini_entries = 512.0
        self.duel_memory = 0.875
        self.duel_sigma = 3.0
        self.duel_margin = 0.04
        self.duel_miss_margin = 0.10
        self.duel_min_epochs = 3
        self.duel_migrate = True
        self.duel_sleep = 4.0
        self.cold_ties = True
        self.warm_threshold = 6
        self.random_admit_mask = 127

    @classmethod
    def fixed_window(cls, share: float) -> TinyLFUConfig:
        """The static W-TinyLFU of the TinyLFU paper (comparison runs): a fixed window share."""
        c = cls()
        c.initial_window = share
        c.ghosts = c.climber = c.duel = c.cold_ties = False
        return c


class _MiniLRU:
    """An exact LRU over sketch keys with a budget in weight units, for the LRU duel (mini_lru):
    it sees only the sampled keys. An OrderedDict keeps the order (first: least recently used;
    O(1) at both ends, where a plain dict's first item costs a scan past deleted ones)."""

    __slots__ = ("budget", "max_keys", "weight", "weights")

    def __init__(self, budget: int, max_keys: int) -> None:
        self.budget = budget
        self.max_keys = max(1, max_keys)
        self.weight = 0
        self.weights: OrderedDict[int, int] = OrderedDict()

    def access(self, key: int, w: int) -> bool:
        """Whether the key was resident (an LRU hit). Afterwards it is the most recently used
        key, unless it weighs more than the whole budget (LRU would not keep it either)."""
        w32 = min(w, 0xFFFFFFFF)
        weights = self.weights
        old = weights.get(key)
        if old is not None:
            self.weight += w32 - old
            weights[key] = w32
            weights.move_to_end(key)
            self._trim(key)
            return True
        if w32 > self.budget:
            return False
        if len(weights) >= self.max_keys:
            self.weight -= weights.popitem(last=False)[1]
        weights[key] = w32
        self.weight += w32
        self._trim(key)
        return False

    def erase(self, key: int) -> None:
        w = self.weights.pop(key, None)
        if w is not None:
            self.weight -= w

    def forget_all(self) -> None:
        self.weights.clear()
        self.weight = 0

    def _trim(self, keep: int) -> None:
        """Evicts from the LRU end until the budget holds again, never `keep`."""
        weights = self.weights
        while self.weight > self.budget:
            if next(iter(weights)) == keep:
                break
            self.weight -= weights.popitem(last=False)[1]


class TinyLFU:
    """Adaptive W-TinyLFU over slots (tinylfu_policy). The owner calls, under its lock:
    insert(obj, hash, weight) for a new entry (it returns the entry's slot; owner[slot] is obj,
    which the policy never reads); on_access(slot) on a hit; on_weight_change(slot, weight) when
    a resident key is written again; evict() while over the capacity (the core's victim() and
    on_remove() in one call; it returns the evicted obj); remove(slot) for any other removal.
    The core's protocol: insert first, then evict while a limit is exceeded."""

    def __init__(self, cfg: TinyLFUConfig | None = None) -> None:
        cfg = cfg if cfg is not None else TinyLFUConfig()
        self.cfg = cfg
        self._flags = (_GENERAL if cfg.climber or cfg.count_protected_hits else 0) | (
            _COLD if cfg.cold_ties else 0
        )
        # Per slot (the first three are the lists' sentinels): links, region, weight, sketch key
        # and its ghost hash, the key's four counter indexes, the owner's object.
        self._prev: list[int] = [WINDOW, PROBATION, PROTECTED]
        self._next: list[int] = [WINDOW, PROBATION, PROTECTED]
        self._where: list[int] = [ABSENT, ABSENT, ABSENT]
        self._weight: list[int] = [0, 0, 0]
        self._key: list[int] = [0, 0, 0]
        self._ghost_hash: list[int] = [0, 0, 0]  # ghost_spread() of the sketch key
        self._cidx: list[tuple[int, int, int, int]] = [(0, 0, 0, 0)] * 3
        self.owner: list[Any] = [None, None, None]
        self._free: list[int] = []  # released slots, reused last-in first-out
        self._used = 0  # slots handed out so far (the entry table's records_.size())
        self._slots = 0  # slots the arrays hold (records_.capacity())
        self._rw = [0, 0, 0, 0]  # weight by region
        self.size = 0  # resident slots
        self.capacity = 0
        self.window_max = 0
        self.protected_max = 0
        self.estimated_entries = 1
        self._expected_entries = 0  # expect_entries()
        # The frequency sketch (frequency_sketch): one counter per byte.
        self._sketch = bytearray()
        self._block_mask = 0
        self._sample_size = 0
        self._additions = 0
        self._rng = _GOLDEN
        # Ghosts.
        self._ghosts: list[int] = []  # 0: empty
        self._ghost_mask = 0
        self._ghost_shift = 0
        self._evictions = [0, 0]
        # Hill climber.
        self.sample_period = 64
        self._hits = self._misses = 0
        self.window_share = cfg.initial_window
        self._previous_ratio = 0.0
        self._step = 0.0625
        self._direction = 1.0
        self._warm = False
        # The LRU duel.
        self._mini: _MiniLRU | None = None
        self.lru_latched = False
        self._epochs = 0
        self._duel_shift = 0
        self._duel_mask = 0
        self._epoch = 16
        self._a = self._b = self._n = self._m = 0
        self._ev_a = self._ev_b = self._ev_n = self._ev_m = 0.0
        self._duel_sleep_left = 0
        self._duel_warming = False
        self._fresh = NO_SLOT  # the slot inserted last, until it leaves

    # ---- slots

    def _allocate(self) -> int:
        """A free slot for a new entry: a released one (last-in first-out), or the next new one
        (the arrays double when full, like the entry table's records)."""
        if self._free:
            return self._free.pop()
        s = self._used
        self._used += 1
        if s >= self._slots:
            self.resize(max(1, 2 * self._slots))
        return s + FIRST_SLOT

    def resize(self, n: int) -> None:
        """Room for n slots; never shrinks (tinylfu_policy::resize)."""
        grow = n - self._slots
        if grow > 0:
            self._prev.extend([NO_SLOT] * grow)
            self._next.extend([NO_SLOT] * grow)
            self._where.extend([ABSENT] * grow)
            self._weight.extend([1] * grow)
            self._key.extend([0] * grow)
            self._ghost_hash.extend([0] * grow)
            self._cidx.extend([(0, 0, 0, 0)] * grow)
            self.owner.extend([None] * grow)
            self._slots = n
        self._size_sketch()

    def expect_entries(self, n: int) -> None:
        """A hint from an owner that counts items: the cache will hold about n entries, so the
        sketch, the ghosts and the duel are sized for them now rather than growing with the
        slots as it fills (sized late, the policy would judge its first contests with what it
        learned in a smaller cache)."""
        self._expected_entries = n
        self._size_sketch()

    def set_capacity(self, c: int) -> None:
        self.capacity = c
        self.lru_latched = False  # a new capacity is a new contest
        self._flags &= ~_MIGRATING
        self._size_sketch()
        self._apply_window_share()

    # ---- the owner's events

    def insert(self, owner: Any, hash_value: int, w: int) -> int:
        """A new resident entry (its first access): returns its slot. hash_value: the key's
        64-bit hash (the pure table passes hash64_int(hash(key)), as the native binding does);
        w: its weight (at least 1; 1 when the capacity counts entries)."""
        s = self._allocate()
        self.owner[s] = owner
        key = (hash_value * _GOLDEN >> 32) & 0xFFFFFFFF  # sketch_key(): bits 32..63 of h x G
        self._key[s] = key
        self._cidx[s] = (a, b, c, d) = self._counters(key)
        t = self._sketch  # frequency_sketch::increment, inline (saturating: _INC)
        inc = _INC
        t[a] = inc[t[a]]
        t[b] = inc[t[b]]
        t[c] = inc[t[c]]
        t[d] = inc[t[d]]
        self._additions += 1
        if self._additions >= self._sample_size:
            self._halve()
        if w > 0xFFFFFFFF:
            w = 0xFFFFFFFF
        self._weight[s] = w
        prv, nxt = self._prev, self._next
        head = nxt[WINDOW]  # push_front(window)
        prv[s] = WINDOW
        nxt[s] = head
        prv[head] = s
        nxt[WINDOW] = s
        where = self._where
        where[s] = WINDOW
        rw = self._rw
        rw[WINDOW] += w
        self.size += 1
        self._fresh = s
        ghosts = self._ghosts
        if ghosts:  # recall(): a miss on a remembered key; the common case is an empty cell
            x = ((key ^ (key >> 29)) * 0xBF58476D1CE4E5B9) & _M64  # ghost_spread()
            self._ghost_hash[s] = h = x ^ (x >> 32)
            g = ghosts[h & self._ghost_mask]
            if g and g >> 16 == (h >> 48) | 1:
                self._recall(h, g)
        flags = self._flags
        if flags & _DUEL_ON:
            if not key & self._duel_mask:
                self._duel_request(key, w, False)
        elif self._duel_sleep_left:
            self._duel_sleep_left -= 1
            if not self._duel_sleep_left:
                self._wake_duel()
        # Window overflow moves to probation eagerly while main has room (the cache is filling;
        # main_has_room_for(), with the fresh slot's excess over the window, inline).
        # Once the cache is full main has no room: weights are at least 1, so one test ends it.
        window_max = self.window_max
        main_max = self.capacity - window_max
        if rw[WINDOW] > window_max and rw[PROBATION] + rw[PROTECTED] < main_max:
            while rw[WINDOW] > window_max:
                tail = prv[WINDOW]
                if tail == WINDOW:
                    break
                excess = w - window_max if w > window_max and where[s] == WINDOW else 0
                if rw[PROBATION] + rw[PROTECTED] + self._weight[tail] + excess > main_max:
                    break
                self._move(tail, PROBATION)
        if flags & _GENERAL and self.cfg.climber:
            self._misses += 1
            self._tick()
        return s

    def on_access(self, s: int) -> None:
        """A hit on resident slot s. The common path (the duel asleep or off, no latched
        migration, not cold, no climber): in protected one relink and no sketch increment;
        elsewhere one sketch increment and one list move."""
        r = self._where[s]
        if self._flags:
            self._access_general(r, s)
            return
        prv, nxt = self._prev, self._next
        if r == PROTECTED:
            p = prv[s]
            if p != PROTECTED:  # not the head already: to the front
                n = nxt[s]
                nxt[p] = n
                prv[n] = p
                head = nxt[PROTECTED]
                prv[s] = PROTECTED
                nxt[s] = head
                prv[head] = s
                nxt[PROTECTED] = s
            return
        t = self._sketch  # frequency_sketch::increment, inline (saturating: _INC)
        inc = _INC
        a, b, c, d = self._cidx[s]
        t[a] = inc[t[a]]
        t[b] = inc[t[b]]
        t[c] = inc[t[c]]
        t[d] = inc[t[d]]
        self._additions += 1
        if self._additions >= self._sample_size:
            self._halve()
        if r == PROBATION:
            self._promote(s)
            return
        p = prv[s]
        if p != WINDOW:
            n = nxt[s]
            nxt[p] = n
            prv[n] = p
            head = nxt[WINDOW]
            prv[s] = WINDOW
            nxt[s] = head
            prv[head] = s
            nxt[WINDOW] = s

    def on_weight_change(self, s: int, new_w: int) -> None:
        """A resident key written again (its weight may be the same): an access, and a return."""
        self._flags &= ~_COLD
        r = self._where[s]
        w = min(new_w, 0xFFFFFFFF)
        self._rw[r] += w - self._weight[s]
        self._weight[s] = w
        self._increment(self._cidx[s])
        key = self._key[s]
        if self._flags & _DUEL_ON and not key & self._duel_mask:
            assert self._mini is not None
            self._mini.access(key, w)
        self._touch(r, s)

    def remove(self, s: int) -> None:
        """Resident slot s left for another reason than evict() (an expiry, a delete): it
        leaves the mini LRU too, which must never count a hit the cache could not have made."""
        if self._flags & _DUEL_ON:
            key = self._key[s]
            if not key & self._duel_mask:
                assert self._mini is not None
                self._mini.erase(key)
        self._release(s)

    def evict(self) -> Any:
        """Evicts the policy's victim (tinylfu_policy's victim(), then on_remove() of it) and
        returns its owner object; None when nothing is resident. Before choosing it may move
        window overflow into main (admitting or rejecting candidates). Never the slot inserted
        last, unless it is the only resident slot: a value just written can be read back at
        once, and admission decides which *other* entry leaves. The fresh slot counts in its
        region's weight but is skipped as a candidate and as main's victim; when it alone
        overflows the window it becomes the window's candidate at the next insert. The evicted
        slot's sketch key stays readable (key_of) until the next insert."""
        s = self._choose_victim()
        if s == NO_SLOT:
            return None
        owner = self.owner[s]
        self._release(s)
        return owner

    def key_of(self, s: int) -> int:
        """Slot s's sketch key (also just after it left; see evict())."""
        return self._key[s]

    @staticmethod
    def hash_for(key: int) -> int:
        """A hash whose sketch key is `key`: for an entry that leaves and comes back as just
        inserted (the entry table's make_room keeps an updated entry that way)."""
        return ((key << 32) * _GOLDEN_INVERSE) & _M64

    def _release(self, s: int) -> None:
        """Unlinks s and frees its slot (its links are stale until it is inserted again)."""
        if s == self._fresh:
            self._fresh = NO_SLOT
        where = self._where
        self._rw[where[s]] -= self._weight[s]
        prv, nxt = self._prev, self._next
        p, n = prv[s], nxt[s]
        nxt[p] = n
        prv[n] = p
        where[s] = ABSENT
        self.owner[s] = None
        self.size -= 1
        self._free.append(s)

    def clear(self) -> None:
        """Forgets every slot (the owner drops their objects) and what the sketch learnt."""
        self._prev[:FIRST_SLOT] = [WINDOW, PROBATION, PROTECTED]
        self._next[:FIRST_SLOT] = [WINDOW, PROBATION, PROTECTED]
        n = self._slots
        self._prev[FIRST_SLOT:] = [NO_SLOT] * n
        self._next[FIRST_SLOT:] = [NO_SLOT] * n
        self._where[FIRST_SLOT:] = [ABSENT] * n
        self.owner[FIRST_SLOT:] = [None] * n
        self._free = list(range(self._used + FIRST_SLOT - 1, FIRST_SLOT - 1, -1))
        self._rw = [0, 0, 0, 0]
        self.size = 0
        self._fresh = NO_SLOT
        self._sketch[:] = bytes(len(self._sketch))
        self._additions = 0
        self._hits = self._misses = 0
        if self.cfg.cold_ties:
            self._flags |= _COLD
        else:
            self._flags &= ~_COLD
        self._unlatch()

    # ---- introspection (tests, the replay harness)

    def __len__(self) -> int:
        return self.size

    def where(self, s: int) -> int:
        return self._where[s]

    def region_weight(self, r: int) -> int:
        return self._rw[r]

    def cold(self) -> bool:
        return bool(self._flags & _COLD)

    def duel_asleep(self) -> bool:
        return self._duel_sleep_left != 0

    def duel_rate(self) -> int:
        """The duel's sampling rate R (0: off)."""
        on = self._flags & _DUEL_ON or self._duel_sleep_left
        return 1 << self._duel_shift if on else 0

    def frequency(self, s: int) -> int:
        """The sketch's estimate for resident slot s's key, 0..15 (the least of its four)."""
        t = self._sketch
        a, b, c, d = self._cidx[s]
        return min(t[a], t[b], t[c], t[d])

    def mru(self, r: int) -> list[int]:
        """Region r's slots, most to least recently used."""
        out = []
        nxt = self._next
        s = nxt[r]
        while s != r:
            out.append(s)
            s = nxt[s]
        return out

    # ---- the sketch

    def _counters(self, key: int) -> tuple[int, int, int, int]:
        """The four counters of a sketch key in the sketch's flat array. The core's sketch
        spreads the key (h = spread(key)), picks block (h >> 32) & mask of 8 words x 16 counters,
        and for i = 0..3 picks one of the 32 counters in words 2i and 2i + 1 with 5 bits of byte
        i of h (word 2i + (sel & 1), nibble (sel >> 1) & 15). Here counter i is 32i + (byte i &
        31) of the block's 128: a bijection of the same 5 bits, so two keys share a counter
        exactly when they share it in the core, and every estimate is the core's."""
        x = key ^ (key >> 31)  # spread(), inline
        x = (x * 0x7FB5D329728EA185) & _M64
        x ^= x >> 27
        x = (x * 0x81DADEF4BC2DD44D) & _M64
        h = x ^ (x >> 33)
        base = (h >> 32 & self._block_mask) << 7
        return (
            base + (h & 31),
            base + 32 + (h >> 8 & 31),
            base + 64 + (h >> 16 & 31),
            base + 96 + (h >> 24 & 31),
        )

    def _increment(self, idx: tuple[int, int, int, int]) -> None:
        t = self._sketch
        if not t:
            return
        for i in idx:
            t[i] = _INC[t[i]]
        self._additions += 1
        if self._additions >= self._sample_size:
            self._halve()

    def _halve(self) -> None:
        """Divides every counter by two (aging); once per sample_size additions."""
        t = self._sketch
        t[:] = t.translate(_HALVE)
        self._additions //= 2

    def _ensure_sketch(self, entries: int, words_per_entry: float) -> None:
        """Sizes the sketch for about `entries` keys (grows only). Growing keeps every estimate:
        a key's block index only gains high bits, so each new block starts as a copy of the old
        block its low bits name; with power-of-two sizes that is the old table repeated."""
        entries = min(max(entries, 8), 1 << 26)
        words = _bit_ceil(max(8, int(words_per_entry * float(entries))))
        old = self._sketch
        if words * 16 <= len(old):
            return
        self._sketch = old * (words * 16 // len(old)) if old else bytearray(words * 16)
        self._block_mask = words // 8 - 1
        self._sample_size = 10 * entries
        # The resident keys' counters moved with the block mask.
        where, keys, cidx = self._where, self._key, self._cidx
        for s in range(FIRST_SLOT, FIRST_SLOT + self._slots):
            if where[s] != ABSENT:
                cidx[s] = self._counters(keys[s])

    # ---- lists

    def _move(self, s: int, r: int) -> None:
        """Moves s to the MRU end of region r."""
        where = self._where
        w = self._weight[s]
        rw = self._rw
        rw[where[s]] -= w
        prv, nxt = self._prev, self._next
        p, n = prv[s], nxt[s]
        nxt[p] = n
        prv[n] = p
        head = nxt[r]
        prv[s] = r
        nxt[s] = head
        prv[head] = s
        nxt[r] = s
        where[s] = r
        rw[r] += w

    def _to_front(self, r: int, s: int) -> None:
        prv, nxt = self._prev, self._next
        p = prv[s]
        if p == r:
            return
        n = nxt[s]
        nxt[p] = n
        prv[n] = p
        head = nxt[r]
        prv[s] = r
        nxt[s] = head
        prv[head] = s
        nxt[r] = s

    def _access_general(self, r: int, s: int) -> None:
        """Any state: ends the cold state, feeds the duel, honours the migration and the
        climber."""
        self._flags &= ~_COLD
        key = self._key[s]
        if self.cfg.count_protected_hits or r != PROTECTED:
            self._increment(self._cidx[s])
        if self._flags & _DUEL_ON and not key & self._duel_mask:
            self._duel_request(key, self._weight[s], True)
        self._touch(r, s)
        if self.cfg.climber:
            self._hits += 1
            self._tick()

    def _touch(self, r: int, s: int) -> None:
        """A hit (or a rewrite) on s, which is in region r: the list moves."""
        if self._flags & _MIGRATING:
            rw = self._rw
            if rw[PROBATION] + rw[PROTECTED] == 0:
                self._flags &= ~_MIGRATING  # main is drained: hits take the common path again
            elif r != WINDOW and rw[WINDOW] + self._weight[s] <= self.window_max:
                self._move(s, WINDOW)  # latched, main not drained yet: main's hits join the LRU
                return
        if r == PROBATION:
            self._promote(s)
        else:
            self._to_front(r, s)

    def _promote(self, s: int) -> None:
        """A hit in probation: into protected, whose overflow goes back to probation."""
        self._move(s, PROTECTED)
        rw = self._rw
        prv = self._prev
        while rw[PROTECTED] > self.protected_max:
            t = prv[PROTECTED]
            if t == s:
                break
            self._move(t, PROBATION)

    # ---- admission and eviction

    def _choose_victim(self) -> int:
        """tinylfu_policy::choose_victim with the fresh slot skipped (oldest_but_fresh()):
        the window's oldest slot but the fresh one is the candidate, probation's (else
        protected's) oldest but the fresh one is main's victim."""
        prv = self._prev
        rw = self._rw
        fresh = self._fresh
        while True:
            c = prv[WINDOW]
            if c == fresh:
                c = prv[c]
            window_max = self.window_max
            if c != WINDOW and rw[WINDOW] > window_max:
                main_max = self.capacity - window_max
                need = rw[PROBATION] + rw[PROTECTED] + self._weight[c]
                if need <= main_max:  # main_has_room_for(c), inline; first without the excess
                    if fresh != NO_SLOT and self._where[fresh] == WINDOW:
                        need += max(0, self._weight[fresh] - window_max)  # fresh_excess()
                    if need <= main_max:
                        self._move(c, PROBATION)  # main has room for it (the cache is filling)
                        continue
                v = prv[PROBATION]
                if v == fresh:
                    v = prv[v]
                if v == PROBATION:
                    v = prv[PROTECTED]
                    if v == fresh:
                        v = prv[v]
                    if v == PROTECTED:
                        return c  # main holds nothing but the fresh slot
                if self._admit(c, v, main_max):
                    self._move(c, PROBATION)
                    self._remember(v, 1)
                    return v
                self._remember(c, 0)
                return c
            v = prv[PROBATION]
            if v == fresh:
                v = prv[v]
            if v == PROBATION:
                v = prv[PROTECTED]
                if v == fresh:
                    v = prv[v]
                if v == PROTECTED:
                    # Nothing in main but the fresh slot: the window's candidate, else the
                    # fresh slot itself (the only resident one), else none.
                    return c if c != WINDOW else fresh
            self._remember(v, 1)
            return v

    def _admit(self, candidate: int, victim: int, main_max: int) -> bool:
        """TinyLFU admission: does the window's candidate deserve main's victim's place?"""
        if self._weight[candidate] > main_max:
            return False
        t = self._sketch
        a, b, c, d = self._cidx[candidate]  # frequency() of both, inline
        fc = min(t[a], t[b], t[c], t[d])
        a, b, c, d = self._cidx[victim]
        fv = min(t[a], t[b], t[c], t[d])
        if fc > fv:
            return True
        if self._flags & _COLD and fc == fv:
            return True
        if fc < self.cfg.warm_threshold:
            return False
        x = self._rng  # xorshift64
        x ^= (x << 13) & _M64
        x ^= x >> 7
        x ^= (x << 17) & _M64
        self._rng = x
        return (x & self.cfg.random_admit_mask) == 0

    # ---- ghosts: a direct-mapped table of recently evicted keys, 32 bits each: 16 bits of
    # fingerprint (never 0: 0 marks an empty cell), the kind of eviction (0: a window candidate
    # rejected by admission, 1: a main victim) and 15 bits of that kind's eviction counter, in
    # units of 2^ghost_shift evictions. A miss on a young window ghost says a slightly larger
    # window would have hit; one on a young main ghost says a slightly larger main would have.

    def _remember(self, s: int, kind: int) -> None:
        ghosts = self._ghosts
        if not ghosts:
            return
        h = self._ghost_hash[s]  # ghost_spread() of its key, from insert()
        evictions = self._evictions
        evictions[kind] += 1
        stamp = (evictions[kind] >> self._ghost_shift) & 0x7FFF
        ghosts[h & self._ghost_mask] = ((h >> 48) | 1) << 16 | kind << 15 | stamp

    def _recall(self, h: int, g: int) -> None:
        """A miss on a key whose ghost_spread() is h, found in cell g of the ghost table."""
        self._flags &= ~_COLD  # a key seen before
        kind = (g >> 15) & 1
        age = ((self._evictions[kind] >> self._ghost_shift) - g) & 0x7FFF
        self._ghosts[h & self._ghost_mask] = 0
        e = float(self.estimated_entries)
        reach = max(self.cfg.ghost_min_reach, self.cfg.ghost_reach * e)
        if float(age << self._ghost_shift) > reach:
            return
        d = self.cfg.ghost_delta / e
        self.window_share = min(max(self.window_share + (d if kind == 0 else -d), 0.0), 1.0)
        self._apply_window_share()

    # ---- the hill climber (off by default)

    def _tick(self) -> None:
        if self.cfg.climber and self._hits + self._misses >= self.sample_period:
            self._climb()

    def _climb(self) -> None:
        cfg = self.cfg
        hit_ratio = self._hits / (self._hits + self._misses)
        self._hits = self._misses = 0
        if not cfg.climber or self.capacity == 0:
            return
        if self.size < self.estimated_entries // 2 and not self._warm:
            return  # still filling: nothing to learn
        if not self._warm:
            self._warm = True
            self._previous_ratio = hit_ratio
            self._step = cfg.initial_step
            self.window_share += self._direction * self._step
            self._apply_window_share()
            return
        change = hit_ratio - self._previous_ratio
        self._previous_ratio = hit_ratio
        if change < -cfg.tolerance:
            self._direction = -self._direction
            self._step = max(cfg.min_step, self._step * cfg.step_shrink)
        elif change <= cfg.tolerance:
            # No signal: hold still (drifting would walk a hot, all-hit cache into pure LRU).
            self._step = max(cfg.min_step, self._step * cfg.flat_decay)
            return
        self.window_share = min(max(self.window_share + self._direction * self._step, 0.0), 1.0)
        self._apply_window_share()

    def _apply_window_share(self) -> None:
        cap = self.capacity
        self.window_max = cap if self.lru_latched else _scale(self.window_share, cap)
        self.protected_max = _scale(self.cfg.protected_share, cap - self.window_max)

    def _size_sketch(self) -> None:
        # Entries the cache holds: its capacity when that counts items; when it counts bytes the
        # slot table (which grows with the entries) is the better guess.
        cfg = self.cfg
        # An owner's expect_entries() stands for the slots it has not handed out yet.
        self.estimated_entries = e = max(
            1, min(self.capacity, max(self._slots, self._expected_entries))
        )
        self._ensure_sketch(e, cfg.sketch_words)
        if cfg.ghosts:
            g = _bit_ceil(max(64, int(cfg.ghost_table * float(e))))
            if g > len(self._ghosts):
                self._ghosts = [0] * g
                self._ghost_mask = g - 1
                # Stamps wrap after 2^15 units: make that >= 16 x the table (see remember()).
                shift = 0
                while (1 << (15 + shift)) < 16 * g:
                    shift += 1
                self._ghost_shift = shift
        self._size_duel()
        self.sample_period = max(64, int(cfg.sample_factor * float(e)))

    # ---- the LRU duel (see tinylfu_config::duel in the core)

    def _size_duel(self) -> None:
        cfg = self.cfg
        self._flags &= ~_DUEL_ON
        if not cfg.duel or self.lru_latched or self.capacity == 0:
            return
        shift = 0
        while shift < 30 and (1 << shift) < cfg.duel_min_rate:
            shift += 1
        while shift < 30 and float(self.estimated_entries >> (shift + 1)) >= cfg.duel_mini_entries:
            shift += 1
        budget = max(1, self.capacity >> shift)
        # The estimate grows with the slots (the owner's table fills after set_capacity): the
        # mini LRU's keys and the epoch follow it, or the duel would judge by a 2-key LRU.
        entries = max(1, self.estimated_entries >> shift)
        mini = self._mini
        if (
            mini is None
            or shift != self._duel_shift
            or budget != mini.budget
            or max(16, entries) != self._epoch
        ):
            self._duel_shift = shift
            self._duel_mask = (1 << shift) - 1
            self._epoch = max(16, entries)
            self._mini = _MiniLRU(budget, min(1 << 24, 2 * entries))
            self._clear_evidence()
            self._duel_sleep_left = 0
            self._duel_warming = False
        if self._duel_sleep_left == 0:
            self._flags |= _DUEL_ON

    def _clear_evidence(self) -> None:
        """A new contest: no counts for the epoch under way, no carried evidence."""
        self._a = self._b = self._n = self._m = 0
        self._ev_a = self._ev_b = self._ev_n = self._ev_m = 0.0
        self._epochs = 0

    def _wake_duel(self) -> None:
        assert self._mini is not None
        self._mini.forget_all()
        self._clear_evidence()  # what put it to sleep may be over
        self._duel_warming = True
        self._flags |= _DUEL_ON

    def _unlatch(self) -> None:
        self.lru_latched = False
        self._flags &= ~_MIGRATING
        self._mini = None
        self._size_duel()
        self._apply_window_share()

    def _duel_request(self, key: int, w: int, policy_hit: bool) -> None:
        """One sampled request: whether the mini LRU hit it, whether the policy did."""
        assert self._mini is not None
        lru_hit = self._mini.access(key, w)
        if lru_hit and not policy_hit:
            self._a += 1
        if policy_hit and not lru_hit:
            self._b += 1
        if not policy_hit:
            self._m += 1
        self._n += 1
        if self._n >= self._epoch:
            self._judge_epoch()

    def _judge_epoch(self) -> None:
        cfg = self.cfg
        if self._duel_warming:  # the first epoch after a sleep refilled the mini LRU
            self._duel_warming = False
            self._a = self._b = self._n = self._m = 0
            return
        m = cfg.duel_memory
        self._ev_a = ev_a = self._ev_a * m + self._a
        self._ev_b = ev_b = self._ev_b * m + self._b
        self._ev_n = ev_n = self._ev_n * m + self._n
        self._ev_m = ev_m = self._ev_m * m + self._m
        self._a = self._b = self._n = self._m = 0
        lead = ev_a - ev_b
        self._epochs += 1
        judged = self._epochs >= cfg.duel_min_epochs
        sigma = cfg.duel_sigma * math.sqrt(ev_a + ev_b)
        if (
            judged
            and lead > sigma
            and (lead > cfg.duel_margin * ev_n or lead > cfg.duel_miss_margin * ev_m)
        ):
            # Latch. The mini LRU is not needed any more (the policy is what it models).
            self.lru_latched = True
            if cfg.duel_migrate:
                self._flags |= _MIGRATING
            self._flags &= ~_DUEL_ON
            self._mini = None
            self._apply_window_share()
        elif (
            cfg.duel_sleep > 0
            and judged
            # Sleep: the policy leads decisively, or it misses too rarely for LRU to win by the
            # margin (every request LRU alone hits is one the policy missed).
            and (-lead > sigma or ev_m < cfg.duel_margin * ev_n)
        ):
            self._flags &= ~_DUEL_ON
            self._duel_sleep_left = max(
                1, int(cfg.duel_sleep * float(self._epoch << self._duel_shift))
            )
