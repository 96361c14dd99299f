#!/usr/bin/env bash
# Installs exactly the Debian 12 packages closehook builds and tests with, plus
# any packages named as arguments (bench/deps.sh adds its own that way).
# Idempotent: packages already present are not reinstalled; runs with no stdin.
set -euo pipefail

packages=(build-essential cmake pkg-config clang clang-format
          libh2o-evloop-dev libcurl4-openssl-dev libyajl-dev libssl-dev
          libsqlite3-dev libcriterion-dev python3 openssl)
# The deploy/ checks (tests/deploy): systemd-analyze verifies the unit, haproxy -c and
# nginx -t check the load-balancer examples, python3-yaml parses the Kubernetes files.
packages+=(systemd haproxy nginx python3-yaml)
# libFuzzer and clang's sanitizer runtimes (tests/fuzz): only a recommendation of
# clang, which --no-install-recommends would leave out.
packages+=(libclang-rt-14-dev)
# The complexity limits (scripts/check-complexity.sh).
packages+=(pmccabe)
# The shared store (issue 12): libpq to build against, a PostgreSQL server that the
# tests start themselves (tests/e2e/pgcluster.py), never the system cluster.
packages+=(libpq-dev postgresql)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "deps: installing ${missing[*]}" >&2
# Debian's postgresql package would create and start a system cluster on port
# 5432; the tests start their own, so none is created (a file kept as is below).
if [[ " ${missing[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
  $SUDO mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null
