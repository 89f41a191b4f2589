#!/usr/bin/env python3
"""Drives Patron's ledger drills over HTTP (standard library only).

  setup URL KEY PROGRAM MEMBERS          create a program and MEMBERS members; print their ids
  load URL KEY PROGRAM ACKS SECONDS       post purchases and redemptions from 16 threads until
                                          SECONDS pass or the server dies; append every 2xx to ACKS
  check URL KEY PROGRAM ACKS              send every acknowledged request again: each must be a
                                          replay (200, same answer), never a new write
  race URLS KEY PROGRAM N POINTS          N concurrent redemptions of POINTS against one member
                                          with 1,000 points, spread over the comma-separated URLS
"""
import http.client
import json
import sys
import threading
import time
import urllib.parse
import uuid

CONFIG = {
    "currency": "CNY",
    "time_zone": "Asia/Shanghai",
    "points": {"pending_days": 0, "refund": "within_balance"},
    "earning_rules": [
        {"code": "base", "on": "purchase", "award": "event.amount / 100"},
        {"code": "growth", "on": "purchase", "unit": "growth", "award": "event.amount / 100"},
    ],
}


def call(url, key, method, path, body=None, headers=None, timeout=10):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    sent = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    sent.update(headers or {})
    connection.request(method, path, body=None if body is None else json.dumps(body), headers=sent)
    response = connection.getresponse()
    text = response.read()
    connection.close()
    return response.status, (json.loads(text) if text else None)


def expect(status, answer, wanted, what):
    if status not in wanted:
        sys.exit(f"{what}: HTTP {status}: {answer}")
    return answer


def setup(url, key, program, members):
    expect(*call(url, key, "POST", "/v1/programs",
                 {"code": program, "name": program, "currency": "CNY", "time_zone": "Asia/Shanghai"}), (201,), "program")
    expect(*call(url, key, "PUT", f"/v1/programs/{program}/config", CONFIG), (200,), "config")
    ids = []
    for index in range(int(members)):
        member = expect(*call(url, key, "POST", f"/v1/programs/{program}/members",
                              {"external_id": f"D-{index}", "channel": "app"}), (201,), "member")
        ids.append(member["id"])
    print(" ".join(ids))


def load(url, key, program, acks_path, seconds):
    members = [m["id"] for m in expect(*call(url, key, "GET", f"/v1/programs/{program}/members?limit=200"),
                                       (200,), "members")["items"]]
    deadline = time.monotonic() + float(seconds)
    lock = threading.Lock()
    acks = open(acks_path, "a", buffering=1)
    counts = {"acked": 0, "refused": 0, "failed": 0}

    def worker(number):
        sequence = 0
        while time.monotonic() < deadline:
            sequence += 1
            member = members[(number + sequence) % len(members)]
            if sequence % 5 == 0:
                kind, path = "redemption", f"/v1/programs/{program}/members/{member}/redemptions"
                body = {"points": 3, "reason": "drill"}
                headers = {"Idempotency-Key": f"drill-{number}-{sequence}-{uuid.uuid4().hex[:8]}"}
            else:
                kind, path = "event", f"/v1/programs/{program}/events"
                body = {"id": f"e-{number}-{sequence}-{uuid.uuid4().hex[:8]}", "type": "purchase", "member": member,
                        "amount": 1000 + sequence, "order_id": f"o-{number}-{sequence}-{uuid.uuid4().hex[:8]}",
                        "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                headers = {}
            try:
                status, answer = call(url, key, "POST", path, body, headers, timeout=5)
            except (OSError, http.client.HTTPException):
                with lock:
                    counts["failed"] += 1
                return  # the server is gone
            with lock:
                if 200 <= status < 300:
                    counts["acked"] += 1
                    acks.write(json.dumps({"kind": kind, "path": path, "body": body, "headers": headers,
                                           "answer": answer}) + "\n")
                else:
                    counts["refused"] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"acknowledged {counts['acked']}, refused {counts['refused']}, cut off {counts['failed']}")


def check(url, key, program, acks_path):
    checked = lost = 0
    with open(acks_path) as acks:
        for line in acks:
            ack = json.loads(line)
            status, answer = call(url, key, "POST", ack["path"], ack["body"], ack["headers"])
            checked += 1
            if ack["kind"] == "event":
                same = status == 200 and answer == ack["answer"]
            else:
                same = status in (200, 201) and answer and answer.get("id") == ack["answer"]["id"]
            if not same:
                lost += 1
                if lost <= 10:
                    print(f"NOT A REPLAY: {ack['kind']} {ack['body']} answered {status} {answer}", file=sys.stderr)
    print(f"checked {checked} acknowledged requests after the crash; {lost} were not found as written")
    sys.exit(1 if lost else 0)


def race(urls, key, program, count, points):
    urls = urls.split(",")
    member = expect(*call(urls[0], key, "POST", f"/v1/programs/{program}/members",
                          {"external_id": f"R-{uuid.uuid4().hex[:8]}", "channel": "app"}), (201,), "member")["id"]
    expect(*call(urls[0], key, "POST", f"/v1/programs/{program}/members/{member}/adjustments",
                 {"points": 1000, "reason": "drill"}), (201,), "adjustment")
    outcomes = []
    lock = threading.Lock()
    start = threading.Barrier(int(count))

    def redeem(number):
        start.wait()
        status, answer = call(urls[number % len(urls)], key, "POST",
                              f"/v1/programs/{program}/members/{member}/redemptions", {"points": int(points)}, timeout=60)
        with lock:
            outcomes.append((status, (answer or {}).get("code")))

    threads = [threading.Thread(target=redeem, args=(n,)) for n in range(int(count))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = sum(1 for status, _ in outcomes if status == 201)
    short = sum(1 for status, code in outcomes if status == 409 and code == "insufficient_points")
    balance = expect(*call(urls[-1], key, "GET", f"/v1/programs/{program}/members/{member}/balance"), (200,), "balance")
    wanted = 1000 // int(points)
    print(f"{count} redemptions of {points} over {len(urls)} servers: {spent} spent, {short} refused for want of points, "
          f"{len(outcomes) - spent - short} other; available {balance['available']}")
    ok = spent == wanted and short == int(count) - wanted and balance["available"] == 1000 - wanted * int(points)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    commands = {"setup": setup, "load": load, "check": check, "race": race}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
