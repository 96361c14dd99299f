#!/usr/bin/env bash
# Builds closehook and runs it on config/closehook.example.json. With no
# CLOSE_API_KEY in the environment the Close credential is absent, so the daemon
# runs in dry-run mode and logs each PUT it would send. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"

# The example routes verify signatures with these secrets. Set your own to
# receive real webhooks; the demo values only let the example start.
if [ -z "${ZOOM_WEBHOOK_SECRET:-}" ] || [ -z "${NOTETAKER_WEBHOOK_SECRET:-}" ]; then
  echo "run-example: ZOOM_WEBHOOK_SECRET / NOTETAKER_WEBHOOK_SECRET not set; using demo secrets" >&2
  export ZOOM_WEBHOOK_SECRET="${ZOOM_WEBHOOK_SECRET:-demo-zoom-secret}"
  export NOTETAKER_WEBHOOK_SECRET="${NOTETAKER_WEBHOOK_SECRET:-demo-notetaker-secret}"
fi
[ -n "${CLOSE_API_KEY:-}" ] || echo "run-example: CLOSE_API_KEY not set: dry-run, PUTs are logged, not sent" >&2
exec ./build/closehook serve --config config/closehook.example.json "$@"
