#!/usr/bin/env python3
"""bench/backlog_drain.py: how fast closehook drains a stored backlog, and
whether the rate holds as the backlog (and the delivered history it leaves)
grows. Issue: each claim's ordering check used to walk every delivered row of
the same Close activity, so 100k rows drained at a fraction of 20k's rate.

For each size N: a fresh store is seeded with N pending rows spread over 64
activities (as real traffic; updates to one activity go out one at a time),
by copying the payload of one real row the daemon stored itself; then the
daemon starts with a local nginx sink as Close (bench/sink-nginx.conf.in) and
the time until every row is done is measured from the store. Prints a
markdown table. Usage (root not needed; nginx on PATH):

    python3 bench/backlog_drain.py --binary build-bench/closehook [--sizes 20000,100000]
"""

import argparse
import hashlib
import hmac
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ACTIVITIES = 64
SECRET = "bench-generic-hmac-key-0123456789"
API_KEY = "api_bench0123456789abcdef"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp, port, close_url, workers):
    cfg = {"listen": [{"host": "127.0.0.1", "port": port}], "threads": 1,
           "store": {"path": os.path.join(tmp, "q.db"), "max_pending": 10000000},
           "close": {"base_url": close_url, "timeout_ms": 5000},
           "delivery": {"workers": workers, "retry_initial_ms": 100, "retry_max_ms": 1000},
           "log": {"access": False, "level": "warn"},
           "credentials": {"close": {"api_key": "env:BENCH_API_KEY"}},
           "routes": [{"name": "bench", "source": "generic", "secret": "env:BENCH_SECRET", "credential": "close",
                       "event_type_path": "event", "activity_id_path": "close.activity_id", "dedup_path": "id",
                       "rules": [{"event": "call_outcome", "outcome_id": "outcome_bench",
                                  "note": "<p>{{notes}}</p>"}]}]}
    path = os.path.join(tmp, "closehook.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def start(binary, config, log):
    env = dict(os.environ, BENCH_API_KEY=API_KEY, BENCH_SECRET=SECRET)
    proc = subprocess.Popen([binary, "serve", "--config", config], env=env, stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)
    port = json.load(open(config))["listen"][0]["port"]
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("closehook did not start; see " + log.name)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def one_real_row(binary, tmp, log):
    """Starts the daemon with Close unreachable, sends one signed webhook, and
    returns the stored row's columns (the payload delivery will read)."""
    port = free_port()
    config = write_config(tmp, port, f"http://127.0.0.1:{free_port()}", 1)
    proc = start(binary, config, log)
    body = json.dumps({"id": "seed", "event": "call_outcome", "notes": "seed",
                       "close": {"activity_id": "acti_bench0"}}).encode()
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/hooks/bench", body, method="POST",
                                 headers={"Content-Type": "application/json", "X-Signature-256": "sha256=" + sig})
    urllib.request.urlopen(req, timeout=5).read()
    stop(proc)
    con = sqlite3.connect(os.path.join(tmp, "q.db"))
    row = con.execute("SELECT route, credential, payload, order_key FROM deliveries").fetchone()
    con.execute("DELETE FROM deliveries")
    con.commit()
    con.close()
    return row


def seed(tmp, row, n):
    route, credential, payload, order_key = row
    con = sqlite3.connect(os.path.join(tmp, "q.db"))
    now = int(time.time() * 1000)
    rows = []
    for i in range(n):
        act = f"acti_bench{i % ACTIVITIES}"
        rows.append((route, credential, f"bench-{i}", payload.replace("acti_bench0", act),
                     order_key.replace("acti_bench0", act) if order_key else None, now, now))
    con.executemany("INSERT INTO deliveries (route, credential, dedup_key, payload, order_key, state,"
                    " created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)", rows)
    con.commit()
    con.close()


def done_count(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT COUNT(*) FROM deliveries WHERE state = 'done'").fetchone()[0]
    finally:
        con.close()


def drain(binary, n, workers, sink_url, timeout):
    tmp = tempfile.mkdtemp(prefix="closehook-drain-")
    try:
        with open(os.path.join(tmp, "daemon.log"), "ab") as log:
            row = one_real_row(binary, tmp, log)
            seed(tmp, row, n)
            config = write_config(tmp, free_port(), sink_url, workers)
            t0 = time.monotonic()
            proc = start(binary, config, log)
            db = os.path.join(tmp, "q.db")
            marks = {}
            while True:
                d = done_count(db)
                for frac in (0.5, 1.0):
                    if d >= frac * n and frac not in marks:
                        marks[frac] = time.monotonic() - t0
                if d >= n or time.monotonic() - t0 > timeout:
                    break
                time.sleep(0.2)
            stop(proc)
        total = marks.get(1.0)
        half = marks.get(0.5)
        if total is None:
            return {"n": n, "rate": d / timeout, "first": None, "second": None, "done": d}
        return {"n": n, "rate": n / total, "first": (n / 2) / half, "second": (n / 2) / (total - half),
                "done": d}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def start_sink():
    tmp = tempfile.mkdtemp(prefix="closehook-sink-")
    port = free_port()
    with open(os.path.join(HERE, "sink-nginx.conf.in")) as f:
        conf = f.read().replace("@DIR@", tmp).replace("@PORT@", str(port))
    with open(os.path.join(tmp, "sink.conf"), "w") as f:
        f.write(conf)
    proc = subprocess.Popen(["nginx", "-p", tmp, "-c", os.path.join(tmp, "sink.conf"), "-e",
                             os.path.join(tmp, "sink-error.log")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except OSError:
            time.sleep(0.05)
    return proc, tmp, f"http://127.0.0.1:{port}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True, action="append", help="closehook binary (repeat to compare)")
    ap.add_argument("--sizes", default="20000,100000")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0, help="s to wait for one drain")
    args = ap.parse_args()
    sink, sink_dir, url = start_sink()
    try:
        print("| binary | backlog | drained/s | first half/s | second half/s |")
        print("|---|---|---|---|---|")
        for binary in args.binary:
            for n in (int(x) for x in args.sizes.split(",")):
                r = drain(binary, n, args.workers, url, args.timeout)
                fmt = lambda v: "—" if v is None else f"{v:,.0f}"
                note = "" if r["done"] >= n else f" (only {r['done']:,} in {args.timeout:.0f} s)"
                print(f"| {binary} | {n:,} | {fmt(r['rate'])}{note} | {fmt(r['first'])} | {fmt(r['second'])} |",
                      flush=True)
    finally:
        sink.terminate()
        sink.wait()
        shutil.rmtree(sink_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
