"""Turns twincache_bench_core's JSON (with repetitions) into the Markdown tables of
docs/benchmarks.md: nanoseconds per operation on one thread, throughput on one and two threads,
the two-thread speed-up, the tinylfu / lru hit-time ratio, and memory per entry."""

import json
import sys


def main(path: str) -> None:
    with open(path) as f:
        data = json.load(f)
    ctx = data["context"]
    med = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        med[b["run_name"]] = b

    print(
        f"machine: {ctx.get('num_cpus')} x {ctx.get('mhz_per_cpu')} MHz, "
        f"load average {', '.join(f'{x:.1f}' for x in ctx.get('load_avg', []))}; "
        f"date {ctx.get('date')}\n"
    )

    impls = ["tc_lru", "tc_tinylfu", "absl_mutex", "stl_lru"]
    for size in ["1k", "1M"]:
        for pattern in ["uniform", "zipf"]:
            rows = []
            for op in ["get_hit", "get_miss", "set_evict"]:
                for impl in impls:
                    base = f"{op}/{impl}/{size}/{pattern}/real_time"
                    one = med.get(base + "/threads:1")
                    two = med.get(base + "/threads:2")
                    if not one:
                        continue
                    ns1 = one["cpu_time"]
                    t1 = one.get("items_per_second", 0) / 1e6
                    t2 = two.get("items_per_second", 0) / 1e6 if two else float("nan")
                    # cpu_time is CPU per operation over all threads: 2 x (1T / 2T) is the
                    # speed-up two dedicated cores would give, counting only the cache's own
                    # contention (spinning and cache-line transfers burn CPU; waiting for a
                    # core does not).
                    cpu_scale = 2 * ns1 / two["cpu_time"] if two else float("nan")
                    rows.append(
                        f"| {op} | {impl} | {ns1:.1f} | {t1:.2f} | {t2:.2f} | "
                        f"{t2 / t1 if t1 else float('nan'):.2f}x | {cpu_scale:.2f}x |"
                    )
            if not rows:
                continue
            print(f"### {size} entries, {pattern} keys\n")
            print(
                "| operation | cache | ns/op, 1 thread (cpu) | Mops/s 1 thread | "
                "Mops/s 2 threads | 2T / 1T (wall) | 2T / 1T (cpu) |"
            )
            print("|---|---|---:|---:|---:|---:|---:|")
            print("\n".join(rows))
            print()

    rows = []
    for size in ["1k", "1M"]:
        for pattern in ["uniform", "zipf"]:
            lru = med.get(f"get_hit/tc_lru/{size}/{pattern}/real_time/threads:1")
            tlfu = med.get(f"get_hit/tc_tinylfu/{size}/{pattern}/real_time/threads:1")
            if lru and tlfu:
                rows.append(
                    f"| {size} | {pattern} | {lru['cpu_time']:.1f} | "
                    f"{tlfu['cpu_time']:.1f} | {tlfu['cpu_time'] / lru['cpu_time']:.2f} |"
                )
    if rows:
        print("### tinylfu vs lru: get-hit time (cpu ns, 1 thread)\n")
        print("| entries | keys | lru | tinylfu | tinylfu / lru |")
        print("|---|---|---:|---:|---:|")
        print("\n".join(rows))
        print()

    rows = []
    for impl in impls:
        m = None
        for b in data["benchmarks"]:
            if b["name"].startswith(f"memory/{impl}/") and b.get("aggregate_name") in (
                None,
                "median",
            ):
                m = b
        if m:
            rows.append(
                f"| {impl} | {m['alloc_bytes_per_entry']:.1f} | "
                f"{m['overhead_bytes_per_entry']:.1f} | {m['rss_bytes_per_entry']:.1f} |"
            )
    if rows:
        print("### memory at 1M entries (keys 9-12 bytes, 8-byte values)\n")
        print("| cache | allocator bytes/entry | overhead beyond key+value | RSS bytes/entry |")
        print("|---|---:|---:|---:|")
        print("\n".join(rows))


def cleaner_table(data: dict) -> None:
    rows = [
        b
        for b in data["benchmarks"]
        if b["name"].startswith("cleaner_sweep/") and b.get("aggregate_name") == "median"
    ]
    if not rows:
        return
    print("\n### cleaner: one sweep of a 1M-entry store (every entry has a TTL)\n")
    print("| entries due | sweep, ms (cpu) | shard-lock holds | us per hold (cpu) |")
    print("|---|---:|---:|---:|")
    for b in rows:
        due = "all" if "all_due:1" in b["name"] else "none"
        ms = b["cpu_time"] if b["time_unit"] == "ms" else float("nan")
        print(f"| {due} | {ms:.1f} | {b['lock_holds']:.0f} | {b['us_per_lock_hold']:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1])
    with open(sys.argv[1]) as f:
        cleaner_table(json.load(f))
