#!/usr/bin/env python3
"""Reads closehook's /metrics for bench/run.sh, which has no Prometheus client:
sums of counters over label filters, and one label's breakdown.

    scrape.py URL sum NAME [label=value ...]      -> one number
    scrape.py URL by NAME LABEL [label=value ...] -> "v1:n1 v2:n2" (largest first)

A label value may list alternatives: outcome=done|dry_run."""

import os
import re
import sys
import urllib.request

# name{labels} value  (the exposition format; labels optional)
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(url):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + os.environ["BENCH_ADMIN_TOKEN"]})
    with urllib.request.urlopen(req, timeout=5) as resp:
        text = resp.read().decode("utf-8")
    for line in text.splitlines():
        m = SAMPLE_RE.match(line)
        if m:
            yield m.group(1), dict(LABEL_RE.findall(m.group(2) or "")), float(m.group(3))


def matching(url, name, filters):
    want = {}
    for f in filters:
        key, _, values = f.partition("=")
        want[key] = set(values.split("|"))
    for n, labels, value in samples(url):
        if n == name and all(labels.get(k) in v for k, v in want.items()):
            yield labels, value


def main():
    url, mode, name = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "sum":
        print("%d" % sum(v for _, v in matching(url, name, sys.argv[4:])))
    elif mode == "by":
        label, totals = sys.argv[4], {}
        for labels, value in matching(url, name, sys.argv[5:]):
            key = labels.get(label, "")
            totals[key] = totals.get(key, 0) + value
        print(" ".join("%s:%d" % kv for kv in sorted(totals.items(), key=lambda kv: -kv[1])))
    else:
        sys.exit("scrape.py: mode must be sum or by")


if __name__ == "__main__":
    main()
