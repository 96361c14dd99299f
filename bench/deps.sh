#!/usr/bin/env bash
# Installs what bench/run.sh needs beyond the build and test packages: wrk (the
# load), nginx (the local Close sink), perf (counts the store's fsyncs) and curl.
# Kept out of the default list because CI does not run benchmarks. Idempotent.
set -euo pipefail
exec bash "$(dirname "$0")/../scripts/deps.sh" wrk nginx linux-perf curl
