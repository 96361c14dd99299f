#!/usr/bin/env python3
"""Precomputes the signed webhooks bench/wrk.lua sends: wrk's Lua has no HMAC,
so every body is signed here once, before the run.

Each line of the output is "<hex HMAC-SHA256(secret, body)> <body>", the body a
generic-sender webhook (config/closehook.example.json's "notetaker" shape) with
a unique "id", so the route's dedup_path never answers "duplicate", and one of
a few Close activity ids, so delivery is not serialised on a single meeting
(queue.h: rows sharing an activity go out one at a time).

    make_bodies.py OUT COUNT ACTIVITIES   (secret in $BENCH_SECRET)
"""

import hashlib
import hmac
import json
import os
import sys


def activity_id(i):
    # "acti_" + base62, the length of a real Close activity id (43 characters after the prefix)
    return "acti_bench%04d" % i + "x" * 33


def main():
    out, count, activities = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    secret = os.environ["BENCH_SECRET"].encode()
    with open(out, "w", encoding="ascii") as f:
        for i in range(count):
            body = json.dumps({
                "event": "call_outcome",
                "id": "bench-%08d" % i,
                "close": {"activity_id": activity_id(i % activities)},
                "outcome": "no_show",
                "notes": "Prospect did not join (bench %d)." % i,
            }, separators=(",", ":"))
            sig = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
            f.write(sig + " " + body + "\n")


if __name__ == "__main__":
    main()
