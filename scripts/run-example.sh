#!/usr/bin/env bash
# Builds closehook and runs it on config/closehook.example.json. With no
# CLOSE_API_KEY in the environment the Close credential is absent, so this asks
# for `serve --dry-run` (serve alone refuses to start without the credential)
# and the daemon logs each PUT it would send. The example's outcome and activity
# ids are placeholders (outcome_REPLACE_WITH_...), which serve refuses unless
# asked: --allow-placeholders. Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"

# The example routes verify signatures with these secrets. Set your own to
# receive real webhooks; the demo values only let the example start.
# RECORDER_WEBHOOK_SECRET is a Standard Webhooks secret, "whsec_" + base64 of the key
# (here base64 of "demo-recorder-webhook-key").
if [ -z "${ZOOM_WEBHOOK_SECRET:-}" ] || [ -z "${NOTETAKER_WEBHOOK_SECRET:-}" ] ||
   [ -z "${CALENDLY_SIGNING_KEY:-}" ] || [ -z "${RECORDER_WEBHOOK_SECRET:-}" ] ||
   [ -z "${GRAPH_CLIENT_STATE:-}" ] || [ -z "${GOOGLE_CHANNEL_TOKEN:-}" ]; then
  echo "run-example: ZOOM_WEBHOOK_SECRET / NOTETAKER_WEBHOOK_SECRET / CALENDLY_SIGNING_KEY /" \
       "RECORDER_WEBHOOK_SECRET / GRAPH_CLIENT_STATE / GOOGLE_CHANNEL_TOKEN not all set;" \
       "using demo secrets for the missing ones" >&2
  export ZOOM_WEBHOOK_SECRET="${ZOOM_WEBHOOK_SECRET:-demo-zoom-secret}"
  export NOTETAKER_WEBHOOK_SECRET="${NOTETAKER_WEBHOOK_SECRET:-demo-notetaker-secret}"
  export CALENDLY_SIGNING_KEY="${CALENDLY_SIGNING_KEY:-demo-calendly-signing-key}"
  export RECORDER_WEBHOOK_SECRET="${RECORDER_WEBHOOK_SECRET:-whsec_ZGVtby1yZWNvcmRlci13ZWJob29rLWtleQ==}"
  export GRAPH_CLIENT_STATE="${GRAPH_CLIENT_STATE:-demo-graph-client-state}"
  export GOOGLE_CHANNEL_TOKEN="${GOOGLE_CHANNEL_TOKEN:-demo-google-channel-token}"
fi
dry_run=()
if [ -z "${CLOSE_API_KEY:-}" ]; then
  echo "run-example: CLOSE_API_KEY not set: serve --dry-run, PUTs are logged, not sent" >&2
  dry_run=(--dry-run)
fi
exec ./build/closehook serve --config config/closehook.example.json --allow-placeholders "${dry_run[@]}" "$@"
