#!/usr/bin/env python3
"""The entitlement check's HTTP benchmark, run by `scripts/bench entitlements` (see docs/PERFORMANCE.md).

  entitlement_bench.py PATRON_BIN [--seconds S] [--connections C] [--members M] [--pace-ms P]

It starts `patron serve` on a fresh SQLite file, creates a program with two levels and three
benefits (one with a monthly quota), M members of whom half reach the upper level by a purchase,
and has each of them use the quota once. Then wrk (2 threads, C connections) GETs random members'
entitlements three times: as fast as answers come (the saturated rate, where latency is C ÷ rate
by Little's law); paced with independent arrivals, each connection waiting a random time averaging
P ms between requests (C × 1000 ÷ P requests/s offered), so that requests arrive as different
customers' checkouts do: the latency a checkout sees at that load, which the target is about; and
paced in lockstep, each connection waiting exactly P ms, which keeps the connections' first
simultaneous requests together: a burst of C requests every P ms, whose p99 is the time to answer
the whole burst. It prints the three and the target against the independent run.
"""
import argparse
import concurrent.futures
import os
import secrets
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ledger_bench as bench  # noqa: E402

CONFIG = {
    "currency": "CNY",
    "time_zone": "Asia/Shanghai",
    "earning_rules": [{"code": "growth", "on": "purchase", "unit": "growth", "award": "event.amount / 100"}],
    "tiers": {"levels": [{"code": "silver", "name": "Silver", "threshold": 0},
                         {"code": "gold", "name": "Gold", "threshold": 5000}]},
    "benefits": [
        {"code": "skip_ads", "name": "No ads", "kind": "access", "levels": ["silver", "gold"]},
        {"code": "free_shipping", "name": "Free shipping", "kind": "quota", "quota": {"quantity": 10, "per": "month"},
         "levels": ["gold"]},
        {"code": "gold_discount", "name": "5% off", "kind": "percent_discount", "value": 5, "levels": ["gold"]},
    ],
}
TARGET_P99_MS = 2.0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("patron")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--pace-ms", type=int, default=64)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="patron-bench.")
    key = "pk_bench_" + secrets.token_hex(16)
    server = bench.Server(args.patron, "sqlite:" + os.path.join(work, "patron.sqlite"), key,
                          os.path.join(work, "sqlite.log"))
    program = bench.PROGRAM
    try:
        bench.call(server.url, key, "POST", "/v1/programs",
                   {"code": program, "name": "Bench", "currency": "CNY", "time_zone": "Asia/Shanghai"})
        bench.call(server.url, key, "PUT", f"/v1/programs/{program}/config", CONFIG)

        def member(n):
            id = bench.call(server.url, key, "POST", f"/v1/programs/{program}/members",
                            {"external_id": f"E-{n}", "channel": "app"})["id"]
            if n % 2 == 0:
                bench.call(server.url, key, "POST", f"/v1/programs/{program}/events",
                           {"id": f"e-{n}", "type": "purchase", "member": id, "amount": 500000, "order_id": f"e-{n}",
                            "occurred_at": "2026-01-01T00:00:00Z"})
                bench.call(server.url, key, "POST", f"/v1/programs/{program}/members/{id}/entitlements/free_shipping/use",
                           {"reference": f"order-{n}"})
            return id

        bench.log(f"enrolling {args.members} members")
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            members = list(pool.map(member, range(args.members)))
        members_file = os.path.join(work, "members.txt")
        with open(members_file, "w") as out:
            out.write("\n".join(members) + "\n")
        env = {"KEY": key, "PROGRAM": program, "MEMBERS_FILE": members_file}
        bench.log("warming up")
        bench.wrk("entitlements.lua", 3, args.connections, server, env)
        bench.log(f"GET entitlements, saturated, for {args.seconds} s")
        saturated = bench.wrk("entitlements.lua", args.seconds, args.connections, server, env)
        runs = {}
        for arrivals in ("independent", "lockstep"):
            bench.log(f"GET entitlements, paced at {args.pace_ms} ms per connection ({arrivals}), for {args.seconds} s")
            runs[arrivals] = bench.wrk("entitlements.lua", args.seconds, args.connections, server,
                                       {**env, "PACE_MS": str(args.pace_ms), "ARRIVALS": arrivals})
        paced = runs["independent"]
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nEntitlement checks over HTTP on SQLite: wrk -t2 -c{args.connections}, {args.seconds} s per run, "
          f"{args.members} members, {os.cpu_count()} CPUs")
    print(f"{'run':<34}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}{'CPU ms/req':>12}")
    offered = args.connections * 1000 / args.pace_ms
    for label, r in (("saturated", saturated), (f"paced, independent ({offered:.0f}/s)", paced),
                     (f"paced, lockstep ({offered:.0f}/s)", runs["lockstep"])):
        print(f"{label:<34}{r['rate']:>10.0f}{r['p50_ms']:>9.2f}{r['p90_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}"
              f"{r['errors']:>8}{r['cpu_ms']:>12.3f}")
    print(f"\npaced with independent arrivals: p99 {paced['p99_ms']:.2f} ms (target ≤ {TARGET_P99_MS} ms): "
          f"{'met' if paced['p99_ms'] <= TARGET_P99_MS else 'not met'}")
    print(f"paced in lockstep (a burst of {args.connections} every {args.pace_ms} ms): p99 {runs['lockstep']['p99_ms']:.2f} ms")
    print(f"saturated: {args.connections} connections ÷ {saturated['rate']:.0f}/s = "
          f"{args.connections / saturated['rate'] * 1000:.1f} ms per request in the system (Little's law)")
    if saturated["errors"] or any(run["errors"] for run in runs.values()):
        sys.exit("entitlement-bench: some requests failed")


if __name__ == "__main__":
    main()
