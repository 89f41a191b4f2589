#!/usr/bin/env python3
"""Generates a history of events for `patron simulate` (docs/SIMULATION.md).

  generate_history.py --members N --events M [--start 2025-01-01] [--end 2026-01-01] [--seed S] --out FILE

Members are M0000001…; how active each is follows a heavy-tailed (Pareto) draw, so that a few
spend a lot and reach the upper levels, as in a real program. About 80 % of events are purchases
(amounts in minor units, log-normal around ¥150), 15 % check-ins, and 5 % refunds of one of the
member's earlier orders (a third of them partial). Each member's events are in time order; the
file is grouped by member. The same arguments always give the same file.
"""
import argparse
import datetime
import math
import random
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--start", default="2025-01-01")
    parser.add_argument("--end", default="2026-01-01")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.members <= 0 or args.events < args.members:
        sys.exit("generate_history: need at least one event per member")
    rng = random.Random(args.seed)
    start = int(datetime.datetime.fromisoformat(args.start).replace(tzinfo=datetime.timezone.utc).timestamp())
    end = int(datetime.datetime.fromisoformat(args.end).replace(tzinfo=datetime.timezone.utc).timestamp())
    span = end - start

    # Each member's share of the events: Pareto weights, scaled so that they add up to --events,
    # with one event at least each.
    weights = [rng.paretovariate(1.5) for _ in range(args.members)]
    scale = (args.events - args.members) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    for index in range(args.events - sum(counts)):
        counts[index % args.members] += 1

    # Times are written from a per-day cache of the date: strftime per event was most of the run.
    days = {}

    def stamp(second):
        day, rest = divmod(second, 86400)
        date = days.get(day)
        if date is None:
            date = days[day] = datetime.datetime.fromtimestamp(day * 86400, datetime.timezone.utc).strftime("%Y-%m-%dT")
        hour, rest = divmod(rest, 3600)
        minute, second = divmod(rest, 60)
        return f"{date}{hour:02d}:{minute:02d}:{second:02d}Z"

    random_value = rng.random
    lognormal = rng.lognormvariate
    written = 0
    with open(args.out, "w", buffering=1 << 20) as out:
        out.write("member,occurred_at,type,amount,order_id,channel\n")
        for member_index, count in enumerate(counts):
            member = f"M{member_index + 1:07d}"
            times = sorted(start + int(random_value() * span) for _ in range(count))
            orders = []
            lines = []
            for number, second in enumerate(times):
                when = stamp(second)
                draw = random_value()
                if draw < 0.05 and orders:
                    order, amount = orders[int(random_value() * len(orders))]
                    refund = amount if random_value() < 0.67 else max(1, amount // 3)
                    lines.append(f"{member},{when},refund,{refund},{order},app\n")
                elif draw < 0.20:
                    lines.append(f"{member},{when},check_in,0,,app\n")
                else:
                    amount = int(lognormal(math.log(15000), 0.9))
                    order = f"{member}-{number}"
                    orders.append((order, amount))
                    channel = "store" if random_value() < 0.6 else "app"
                    lines.append(f"{member},{when},purchase,{amount},{order},{channel}\n")
            out.write("".join(lines))
            written += count
    print(f"generate_history: {written} events of {args.members} members in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
