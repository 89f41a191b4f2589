#!/usr/bin/env python3
"""The ledger's HTTP benchmark, run by `scripts/bench ledger` (see docs/PERFORMANCE.md).

  ledger_bench.py PATRON_BIN [--seconds S] [--connections C] [--members M] [--stores sqlite,postgres]
                  [--threads]

For each store it starts `patron serve` on a fresh database, creates a program with two earning
rules and M members, and drives it with wrk (2 threads, C connections): first the cheapest
authenticated JSON read (GET of the program) as the ceiling of the HTTP stack, then purchases, each
a new event with its own id and order. After the run the server is stopped and `patron ledger
verify` must pass, and every acknowledged event must be in the ledger. On the same PostgreSQL it
runs pgbench's default (TPC-B-like) transaction with C clients. It prints each figure and ratio,
and exits non-zero if any request failed or the ledger is not sound. With --threads it also prints,
for the purchases run, how busy the machine's CPUs were and each of the server's threads (grouped
by name): its CPU per event, and how long it ran and waited for a CPU (`/proc/<pid>/task/*/schedstat`).

Every run also counts the CPU time of the whole machine's work per request: the server's, the
database server's (PostgreSQL's processes) and the load generator's (wrk, or pgbench's client).
Their sum bounds the rate a run could reach with every CPU busy; for PostgreSQL it shows whether
events at 3 x pgbench's transactions per second would fit in the CPUs at all.
"""
import argparse
import concurrent.futures
import http.client
import json
import os
import resource
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRK_SCRIPTS = os.path.join(REPO, "Benchmarks", "HTTP")
PROGRAM = "bench"
CONFIG = {
    "currency": "CNY",
    "time_zone": "Asia/Shanghai",
    "points": {"pending_days": 7, "expiry": {"policy": "end_of_year_after_earn", "years": 1}, "refund": "within_balance"},
    "earning_rules": [
        {"code": "base", "on": "purchase", "award": "event.amount / 100"},
        {"code": "growth", "on": "purchase", "unit": "growth", "award": "event.amount / 100"},
    ],
}


def log(message):
    print(f"ledger-bench: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(url, key, method, path, body=None):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request(method, path, body=None if body is None else json.dumps(body),
                       headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    response = connection.getresponse()
    text = response.read()
    connection.close()
    answer = json.loads(text) if text else None
    if not 200 <= response.status < 300:
        sys.exit(f"ledger-bench: {method} {path}: HTTP {response.status}: {answer}")
    return answer


class Server:
    def __init__(self, patron, database, key, log_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [patron, "serve", "--database", database, "--port", str(self.port), "--admin-key", key],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"ledger-bench: patron did not come up; see {log_path}")
            time.sleep(0.2)

    def cpu_seconds(self):
        """User and system CPU time the server has used so far."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def threads(self):
        """Each of the server's threads by id: its name, CPU ticks, and nanoseconds run and waited for a CPU."""
        threads = {}
        for tid in os.listdir(f"/proc/{self.process.pid}/task"):
            try:
                with open(f"/proc/{self.process.pid}/task/{tid}/stat") as stat:
                    text = stat.read()
                with open(f"/proc/{self.process.pid}/task/{tid}/schedstat") as schedstat:
                    ran, waited = (int(value) for value in schedstat.read().split()[:2])
            except OSError:
                continue  # the thread ended
            fields = text.rsplit(")", 1)[1].split()
            threads[tid] = (text[text.index("(") + 1:text.rindex(")")], int(fields[11]) + int(fields[12]), ran, waited)
        return threads

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()


def children_cpu_seconds():
    """User and system CPU time of this script's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_tree_cpu_seconds(pid):
    """User and system CPU time of a process, of its children that have ended (which it has waited
    for), and of its children still running: PostgreSQL's postmaster and its backends and workers."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended
        if int(entry) == pid:
            ticks += sum(int(value) for value in fields[11:15])
        elif int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def total_cpu_ms(run):
    """The whole machine's CPU per request of a run: the server's (none for pgbench), the database
    server's and the load generator's."""
    return run.get("cpu_ms", 0) + run["database_cpu_ms"] + run["load_cpu_ms"]


def wrk(script, seconds, connections, server, env, database_cpu=None):
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s",
               os.path.join(WRK_SCRIPTS, script), server.url]
    cpu_before, load_before = server.cpu_seconds(), children_cpu_seconds()
    database_before = database_cpu() if database_cpu else 0
    output = subprocess.run(command, env={**os.environ, "BENCH_DIR": WRK_SCRIPTS, **env}, check=True,
                            capture_output=True, text=True).stdout
    for line in output.splitlines():
        if line.startswith("BENCH "):
            result = json.loads(line[len("BENCH "):])
            requests = max(result["requests"], 1)
            # The server's CPU per answered request: a cost that other load on the machine does not hide.
            result["cpu_ms"] = (server.cpu_seconds() - cpu_before) * 1000 / requests
            result["database_cpu_ms"] = (database_cpu() - database_before) * 1000 / requests if database_cpu else 0
            result["load_cpu_ms"] = (children_cpu_seconds() - load_before) * 1000 / requests
            result["errors"] = sum(result[k] for k in ("non_2xx", "connect_errors", "read_errors", "write_errors",
                                                       "timeouts"))
            return result
    sys.exit(f"ledger-bench: wrk printed no result:\n{output}")


def verify(patron, database):
    """Whether `patron ledger verify` finds the ledger sound."""
    run = subprocess.run([patron, "ledger", "verify", "--database", database, "--program", PROGRAM],
                         capture_output=True, text=True)
    if run.returncode != 0:
        log(f"ledger verify failed:\n{run.stdout}{run.stderr}")
    return run.returncode == 0


def count_events(store, database):
    """The events in the ledger."""
    query = "SELECT count(*) FROM ledger_events"
    if store == "sqlite":
        with sqlite3.connect(database.removeprefix("sqlite:")) as connection:
            return connection.execute(query).fetchone()[0]
    return int(subprocess.run(["psql", database_for_psql(database), "-Atqc", query], check=True,
                              capture_output=True, text=True).stdout.strip())


def database_for_psql(url):
    return url.split("?")[0]


def bench_store(store, database, args, work, database_cpu=None):
    key = "pk_bench_" + secrets.token_hex(16)
    server = Server(args.patron, database, key, os.path.join(work, f"{store}.log"))
    try:
        call(server.url, key, "POST", "/v1/programs",
             {"code": PROGRAM, "name": "Bench", "currency": "CNY", "time_zone": "Asia/Shanghai"})
        call(server.url, key, "PUT", f"/v1/programs/{PROGRAM}/config", CONFIG)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            members = list(pool.map(
                lambda n: call(server.url, key, "POST", f"/v1/programs/{PROGRAM}/members",
                               {"external_id": f"B-{n}", "channel": "app"})["id"], range(args.members)))
        members_file = os.path.join(work, f"{store}-members.txt")
        with open(members_file, "w") as out:
            out.write("\n".join(members) + "\n")
        env = {"KEY": key, "PROGRAM": PROGRAM, "MEMBERS_FILE": members_file, "READ_PATH": f"/v1/programs/{PROGRAM}"}
        log(f"{store}: warming up")
        wrk("events.lua", 3, args.connections, server, env)
        wrk("read.lua", 3, args.connections, server, env)
        before = count_events(store, database)
        log(f"{store}: GET of the program for {args.seconds} s")
        read = wrk("read.lua", args.seconds, args.connections, server, env, database_cpu)
        log(f"{store}: purchases for {args.seconds} s")
        threads_before, cpus_before = server.threads(), cpu_times()
        events = wrk("events.lua", args.seconds, args.connections, server, env, database_cpu)
        threads = thread_shares(threads_before, server.threads(), cpus_before, cpu_times(), events["requests"])
    finally:
        server.stop()
    stored = count_events(store, database) - before
    sound = verify(args.patron, database)
    # wrk counts a request only when its answer arrived; requests cut off at the end of the run may
    # still have been posted, so the ledger can hold a few more than were acknowledged, never fewer.
    complete = stored >= events["requests"] - events["errors"]
    if not complete:
        log(f"{store}: {events['requests'] - events['errors']} events acknowledged but {stored} in the ledger")
    return {"store": store, "read": read, "events": events, "stored": stored, "sound": sound, "complete": complete,
            "threads": threads}


def cpu_times():
    """The machine's CPU time so far, in ticks: all of it, and idle or waiting for I/O."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:9]]
    return sum(fields), fields[3] + fields[4]


def thread_shares(before, after, cpus_before, cpus_after, requests):
    """How busy the CPUs were between two readings, and the server's threads grouped by name, busiest first:
    (name, threads, CPU ms per request, seconds run, seconds waited for a CPU)."""
    total, idle = (a - b for a, b in zip(cpus_after, cpus_before))
    groups = {}
    for tid, (name, ticks, ran, waited) in after.items():
        _, ticks_before, ran_before, waited_before = before.get(tid, (name, 0, 0, 0))
        if ticks == ticks_before and ran == ran_before:
            continue
        group = groups.setdefault(name, [0, 0, 0, 0])
        group[0] += 1
        group[1] += ticks - ticks_before
        group[2] += ran - ran_before
        group[3] += waited - waited_before
    rows = [(name, count, ticks * 1000 / os.sysconf("SC_CLK_TCK") / max(requests, 1), ran / 1e9, waited / 1e9)
            for name, (count, ticks, ran, waited) in groups.items()]
    return {"busy": (total - idle) / max(total, 1), "rows": sorted(rows, key=lambda row: -row[3])}


def pgbench(database, args, database_cpu):
    url = database_for_psql(database)
    bench_url = url.rsplit("/", 1)[0] + "/pgbench"
    subprocess.run(["psql", url, "-qc", "CREATE DATABASE pgbench"], check=True, capture_output=True)
    scale = max(args.connections, 1)
    log(f"pgbench: initialising at scale {scale}")
    subprocess.run(["pgbench", "-i", "-q", "-s", str(scale), bench_url], check=True, capture_output=True)
    log(f"pgbench: TPC-B-like, {args.connections} clients, 2 threads, {args.seconds} s")
    database_before, load_before = database_cpu(), children_cpu_seconds()
    run = subprocess.run(["pgbench", "-c", str(args.connections), "-j", "2", "-T", str(args.seconds), bench_url],
                         capture_output=True, text=True)
    database_seconds, load_seconds = database_cpu() - database_before, children_cpu_seconds() - load_before
    if run.returncode != 0:
        sys.exit(f"ledger-bench: pgbench failed:\n{run.stdout}{run.stderr}")
    output = run.stdout
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    latency = re.search(r"latency average = ([0-9.]+) ms", output)
    if not tps:
        sys.exit(f"ledger-bench: pgbench printed no tps:\n{output}")
    transactions = re.search(r"number of transactions actually processed: ([0-9]+)", output)
    count = max(int(transactions.group(1)) if transactions else 0, 1)
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1)) if latency else None,
            "database_cpu_ms": database_seconds * 1000 / count, "load_cpu_ms": load_seconds * 1000 / count}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("patron")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--threads", action="store_true", help="print the server's threads during the purchases")
    args = parser.parse_args()
    stores = args.stores.split(",")
    work = tempfile.mkdtemp(prefix="patron-bench.")
    pg_dir = None
    results = []
    pg = None
    keep = False
    try:
        for store in stores:
            if store == "sqlite":
                results.append(bench_store(store, "sqlite:" + os.path.join(work, "patron.sqlite"), args, work))
            elif store == "postgres":
                exports = subprocess.run([os.path.join(REPO, "scripts", "postgres-throwaway"), "start"], check=True,
                                         capture_output=True, text=True).stdout
                env = dict(re.findall(r"^export (\w+)=(.*)$", exports, re.M))
                pg_dir = env["PATRON_PG_DIR"].strip("'")
                database = env["PATRON_TEST_DATABASE_URL"].strip("'")
                with open(os.path.join(pg_dir, "data", "postmaster.pid")) as pid_file:
                    postmaster = int(pid_file.readline())
                database_cpu = lambda: process_tree_cpu_seconds(postmaster)
                results.append(bench_store(store, database, args, work, database_cpu))
                pg = pgbench(database, args, database_cpu)
            else:
                sys.exit(f"ledger-bench: unknown store {store}")
    except BaseException:
        keep = True
        raise
    finally:
        if pg_dir:
            subprocess.run([os.path.join(REPO, "scripts", "postgres-throwaway"), "stop", pg_dir], capture_output=True)
        if keep:
            log(f"kept {work} for its logs")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nLedger over HTTP: wrk -t2 -c{args.connections}, {args.seconds} s per run, {args.members} members, "
          f"{os.cpu_count()} CPUs")
    print(f"{'store':<10}{'run':<18}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}"
          f"{'CPU ms/req':>12}")
    for result in results:
        for name in ("read", "events"):
            r = result[name]
            label = "GET program" if name == "read" else "POST events"
            print(f"{result['store']:<10}{label:<18}{r['rate']:>10.0f}{r['p50_ms']:>9.2f}{r['p90_ms']:>9.2f}"
                  f"{r['p99_ms']:>9.2f}{r['max_ms']:>9.2f}{r['errors']:>8}{r['cpu_ms']:>12.3f}")
    if pg:
        print(f"{'postgres':<10}{'pgbench TPC-B':<18}{pg['tps']:>10.0f}{pg['latency_ms'] or 0:>9.2f}  (average)")
    cpus = os.cpu_count()
    print(f"\nCPU per request, the whole machine's work (ms); the ceiling is {cpus} CPUs ÷ the total")
    print(f"{'store':<10}{'run':<18}{'server':>9}{'database':>10}{'load':>8}{'total':>8}{'ceiling/s':>11}")
    rows = [(result["store"], "GET program" if name == "read" else "POST events", result[name])
            for result in results for name in ("read", "events")]
    if pg:
        rows.append(("postgres", "pgbench TPC-B", pg))
    for store, label, run in rows:
        total = total_cpu_ms(run)
        print(f"{store:<10}{label:<18}{run.get('cpu_ms', 0):>9.3f}{run['database_cpu_ms']:>10.3f}"
              f"{run['load_cpu_ms']:>8.3f}{total:>8.3f}{cpus * 1000 / max(total, 1e-9):>11.0f}")
    if args.threads:
        for result in results:
            threads = result["threads"]
            print(f"\n{result['store']}: the server's threads during the purchases; the CPUs were "
                  f"{threads['busy']:.0%} busy")
            print(f"{'thread':<22}{'count':>6}{'CPU ms/event':>14}{'ran s':>8}{'waited s':>10}")
            for name, count, cpu_ms, ran, waited in threads["rows"]:
                print(f"{name:<22}{count:>6}{cpu_ms:>14.4f}{ran:>8.2f}{waited:>10.2f}")
    print()
    failed = False
    for result in results:
        events, read = result["events"], result["read"]
        print(f"{result['store']}: events/s ÷ GET/s = {events['rate'] / read['rate']:.2f}; "
              f"{result['stored']} events stored; ledger verify {'sound' if result['sound'] else 'FAILED'}")
        target = 10_000 if result["store"] == "sqlite" else None
        if target:
            print(f"  target ≥ {target} events/s: {'met' if events['rate'] >= target else 'not met'}")
        if result["store"] == "postgres" and pg:
            ratio = events["rate"] / pg["tps"]
            print(f"  events/s ÷ pgbench tps = {ratio:.2f} (target ≥ 3): {'met' if ratio >= 3 else 'not met'}")
            event_total, pgbench_total = total_cpu_ms(events), total_cpu_ms(pg)
            print(f"  with every CPU busy in both runs, the ratio could reach at most {pgbench_total / event_total:.2f}: "
                  f"{event_total:.3f} ms of CPU an event against {pgbench_total:.3f} ms a pgbench transaction "
                  f"(the events' database part alone: {events['database_cpu_ms']:.3f} ms)")
        print(f"  p99 {events['p99_ms']:.1f} ms (target ≤ 20 ms): {'met' if events['p99_ms'] <= 20 else 'not met'}")
        failed |= not result["sound"] or not result["complete"] or events["errors"] > 0 or read["errors"] > 0
    if failed:
        sys.exit("ledger-bench: requests failed or the ledger is not sound (see above)")


if __name__ == "__main__":
    main()
