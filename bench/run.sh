#!/usr/bin/env bash
# bench/run.sh: closehook's performance figures, measured rather than asserted
# (tests never time anything). Builds Release, starts a local Close sink (nginx)
# and a fresh daemon per run on free loopback ports with a temp store, drives it
# with wrk, reads the daemon's /metrics and a perf count of its fsyncs, and
# prints a markdown table. Everything it started is killed on exit, failure
# included. Installs nothing itself: bench/deps.sh does, as root.
#
# Knobs (environment): BENCH_DURATION (s per run, 15), BENCH_CONNECTIONS (64),
# BENCH_WRK_THREADS (2), BENCH_BODY_COUNT (signed bodies, 400000),
# BENCH_DRAIN_TIMEOUT (s to wait for the backlog after a run, 10),
# BENCH_BUILD_DIR (build-bench), BENCH_BIN (a closehook binary to use instead
# of building one).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-15}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
# Each wrk thread sends its own slice and wraps to duplicates only when it runs
# out: 400k covers 15 s at 25k accepted/s, well above what 2 cores accept.
BODY_COUNT=${BENCH_BODY_COUNT:-400000}
DRAIN_TIMEOUT=${BENCH_DRAIN_TIMEOUT:-10}
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
# Updates to one Close activity are delivered one at a time (queue.h order
# key); 64 activities let every delivery worker run, as real traffic would.
ACTIVITIES=64
# A daemon answers /healthz within this after exec, and exits within this after SIGTERM.
START_TIMEOUT_S=10
STOP_TIMEOUT_S=15
# Demo secrets: they exist only in the daemon's environment and the signed bodies.
export BENCH_SECRET=bench-generic-hmac-key-0123456789
BENCH_API_KEY=api_bench0123456789abcdef

for tool in wrk nginx perf python3 curl; do
  if ! command -v "$tool" >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
      bash bench/deps.sh
      break
    fi
    echo "bench: $tool missing; run bench/deps.sh as root first" >&2
    exit 1
  fi
done

if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$BENCH_BIN
else
  echo "bench: building Release in $BUILD" >&2
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target closehook >/dev/null
  BIN=$BUILD/closehook
fi

# The store is on the disk /tmp lives on, as a real node's would be; the
# "tmpfs" runs put it in /dev/shm, where an fsync costs nothing, to show what
# the accept path costs without the disk.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/closehook-bench.XXXXXX")
SHM=
if [ -d /dev/shm ]; then
  SHM=$(mktemp -d /dev/shm/closehook-bench.XXXXXX)
fi
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$TMP" ${SHM:+"$SHM"}
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL: until it answers 2xx, or fail after START_TIMEOUT_S.
wait_http() {
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "bench: $1 did not come up" >&2
      return 1
    fi
    sleep 0.05
  done
}

# /metrics is served on the admin listener only, behind its token.
export BENCH_ADMIN_TOKEN=bench-admin-token-0123456789
scrape() { python3 bench/scrape.py "http://127.0.0.1:$ADMIN_PORT/metrics" "$@"; }
delivered() { scrape sum closehook_deliveries_total route=bench 'outcome=done|dry_run'; }

start_sink() {
  SINK_PORT=$(free_port)
  sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$SINK_PORT|g" bench/sink-nginx.conf.in >"$TMP/sink.conf"
  nginx -p "$TMP" -c "$TMP/sink.conf" -e "$TMP/sink-error.log" </dev/null >"$TMP/sink.out" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$SINK_PORT/"
}

# write_config DIR STORE_DIR WORKERS: the bench route is
# config/closehook.example.json's generic "notetaker" route (HMAC in
# X-Signature-256, dedup on "id"); the access log is off, as for any throughput figure.
write_config() {
  cat >"$1/closehook.json" <<EOF
// written by bench/run.sh
{
  "listen": [{"host": "127.0.0.1", "port": $PORT}],
  "threads": 0,
  "store": {"path": "$2/q.db"},
  "close": {"base_url": "http://127.0.0.1:$SINK_PORT", "timeout_ms": 5000},
  "delivery": {"workers": $3, "retry_initial_ms": 1000, "retry_max_ms": 10000, "max_age_s": 3600},
  "log": {"access": false},
  "admin": {"listen": {"host": "127.0.0.1", "port": $ADMIN_PORT}, "token": "env:BENCH_ADMIN_TOKEN"},
  "credentials": {"close": {"api_key": "env:CLOSE_API_KEY"}},
  "routes": [{
    "name": "bench", "source": "generic", "secret": "env:BENCH_SECRET", "auth": "hmac",
    "signature_header": "X-Signature-256", "signature_encoding": "sha256=hex",
    "event_type_path": "event", "activity_id_path": "close.activity_id", "dedup_path": "id",
    "credential": "close",
    "rules": [{"event": "call_outcome", "when": {"outcome": "no_show"},
               "outcome_id": "outcome_bench_no_show", "note": "<p>No-show: {{notes}}</p>"}]
  }]
}
EOF
}

# start_daemon DIR STORE_DIR MODE WORKERS: MODE "dryrun" (no Close credential:
# the PUT is logged) or "sink" (delivered to the sink).
start_daemon() {
  local dir=$1 store=$2 mode=$3 workers=$4
  PORT=$(free_port)
  ADMIN_PORT=$(free_port)
  write_config "$dir" "$store" "$workers"
  (
    unset CLOSE_API_KEY
    dry=--dry-run
    if [ "$mode" = sink ]; then
      dry=
    fi
    export CLOSE_API_KEY=$BENCH_API_KEY
    exec "$BIN" serve --config "$dir/closehook.json" $dry </dev/null >"$dir/daemon.log" 2>&1
  ) &
  DAEMON_PID=$!
  PIDS+=("$DAEMON_PID")
  wait_http "http://127.0.0.1:$PORT/healthz" || { tail -20 "$dir/daemon.log" >&2; return 1; }
  # The queue's writer is the first thread main starts (queue_open comes before
  # the server, delivery and signal threads), so it has the lowest thread id.
  local task
  WRITER_TID=
  for task in /proc/"$DAEMON_PID"/task/*; do
    task=${task##*/}
    if [ "$task" != "$DAEMON_PID" ] && { [ -z "$WRITER_TID" ] || [ "$task" -lt "$WRITER_TID" ]; }; then
      WRITER_TID=$task
    fi
  done
}

stop_daemon() {
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while kill -0 "$DAEMON_PID" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      kill -9 "$DAEMON_PID" 2>/dev/null || true
    fi
    sleep 0.05
  done
  wait "$DAEMON_PID" 2>/dev/null || true
}

# perf_start DIR / perf_stop: counts the daemon's fsync + fdatasync calls per
# thread while wrk runs, with in-kernel tracepoint counters. Not strace: it
# stops the daemon on every traced call and cut its throughput several-fold.
# Every thread exists by then (perf -p follows only existing threads).
perf_start() {
  perf stat --per-thread -x, -e syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync \
    -p "$DAEMON_PID" -o "$1/fsync.perf" 2>"$1/perf.err" &
  PERF_PID=$!
  PIDS+=("$PERF_PID")
  sleep 0.2 # perf attaches asynchronously; the count must cover the whole run
}

perf_stop() {
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true
}

# fsyncs DIR [TID]: fsync + fdatasync calls perf counted (of one thread).
# perf's CSV lines are "comm-tid,count,,event,…"; "<not counted>" adds 0.
fsyncs() {
  awk -F, -v tid="${2:-}" '$4 ~ /^syscalls:/ {
      n = split($1, part, "-"); if (tid == "" || part[n] == tid) sum += $2 + 0
    } END {print sum + 0}' "$1/fsync.perf" 2>/dev/null || echo 0
}

# run_wrk DIR PATH CLOSE BODIES: one wrk run; its BENCH line's values become W_<key>.
run_wrk() {
  local dir=$1 path=$2 close=$3 bodies=$4
  local cmd=(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s bench/wrk.lua
             "http://127.0.0.1:$PORT$path")
  local envs=("BENCH_THREADS=$WRK_THREADS")
  if [ "$close" = 1 ]; then
    envs+=("BENCH_CLOSE=1")
  fi
  if [ -n "$bodies" ]; then
    envs+=("BENCH_BODIES=$bodies")
  fi
  COMMANDS+=("${envs[*]} ${cmd[*]}")
  env "${envs[@]}" "${cmd[@]}" >"$dir/wrk.out" 2>&1 || { cat "$dir/wrk.out" >&2; return 1; }
  W_duration_s=0 W_err_connect=0 W_err_read=0 W_err_write=0 W_err_timeout=0
  local line kv
  line=$(grep '^BENCH ' "$dir/wrk.out") || { cat "$dir/wrk.out" >&2; return 1; }
  for kv in ${line#BENCH }; do
    printf -v "W_${kv%%=*}" '%s' "${kv#*=}"
  done
}

# wait_drained QUEUED: until every queued webhook is delivered (or the timeout);
# sets DRAIN_S (seconds after wrk ended) and LEFT (undelivered rows).
wait_drained() {
  local start=$EPOCHREALTIME got
  while :; do
    got=$(delivered)
    LEFT=$(($1 - got))
    DRAIN_S=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}')
    if [ "$LEFT" -le 0 ] || awk -v d="$DRAIN_S" -v t="$DRAIN_TIMEOUT" 'BEGIN {exit !(d >= t)}'; then
      return 0
    fi
    sleep 0.2
  done
}

ROWS=()
COMMANDS=()
# bench_case NAME DESCRIPTION STORE MODE WORKERS PATH CLOSE: one table row.
# STORE is "disk" or "tmpfs"; PATH /healthz sends GETs, else signed POSTs.
bench_case() {
  local name=$1 desc=$2 store=$3 mode=$4 workers=$5 path=$6 close=$7
  local dir=$TMP/$name store_dir=$TMP/$name bodies='' route=healthz
  if [ "$store" = tmpfs ]; then
    if [ -z "$SHM" ]; then
      echo "bench: no /dev/shm, $name skipped" >&2
      return 0
    fi
    store_dir=$SHM/$name
  fi
  mkdir -p "$dir" "$store_dir"
  if [ "$path" != /healthz ]; then
    bodies=$TMP/bodies.txt
    route=bench
  fi
  echo "bench: $name ($desc), ${DURATION}s" >&2
  start_daemon "$dir" "$store_dir" "$mode" "$workers"
  local d0 d1 a0 a1 statuses queued=0 delivered_load="—" e2e="—"
  d0=$(delivered)
  a0=$(scrape sum closehook_http_requests_total route=bench status=202)
  perf_start "$dir"
  run_wrk "$dir" "$path" "$close" "$bodies"
  perf_stop
  d1=$(delivered)
  a1=$(scrape sum closehook_http_requests_total route=bench status=202)
  statuses=$(scrape by closehook_http_requests_total status route=$route)
  if [ -n "$bodies" ]; then
    queued=$(scrape sum closehook_webhooks_total route=bench result=queued)
    delivered_load=$(awk -v n=$((d1 - d0)) -v s="$W_duration_s" 'BEGIN {printf "%.0f", n / s}')
    wait_drained "$queued"
    e2e=$(awk -v n=$((queued - LEFT)) -v s="$W_duration_s" -v d="$DRAIN_S" 'BEGIN {printf "%.0f", n / (s + d)}')
    if [ "$LEFT" -le 0 ]; then
      e2e+=" (all delivered ${DRAIN_S}s after load)"
    else
      e2e+=" ($LEFT of $queued left ${DRAIN_S}s after load)"
    fi
  fi
  stop_daemon
  local writer total per="—"
  writer=$(fsyncs "$dir" "$WRITER_TID")
  total=$(fsyncs "$dir")
  if [ -n "$bodies" ] && [ "$writer" -gt 0 ]; then
    per=$(awk -v a=$((a1 - a0)) -v w="$writer" 'BEGIN {printf "%.1f", a / w}')
  fi
  local errs=$((W_err_connect + W_err_read + W_err_write + W_err_timeout))
  ROWS+=("| $name | $desc | $store | $W_rps | $W_p50_ms | $W_p99_ms | $statuses | $errs | $writer / $total | $per | $delivered_load | $e2e |")
}

echo "bench: signing $BODY_COUNT bodies" >&2
python3 bench/make_bodies.py "$TMP/bodies.txt" "$BODY_COUNT" "$ACTIVITIES"
start_sink

bench_case accept-dryrun "POST, keep-alive, dry-run, 2 workers" disk dryrun 2 /hooks/bench 0
bench_case deliver-w2 "POST, keep-alive, to the sink, 2 workers" disk sink 2 /hooks/bench 0
bench_case deliver-w4 "POST, keep-alive, to the sink, 4 workers" disk sink 4 /hooks/bench 0
bench_case accept-close "POST, Connection: close, dry-run, 2 workers" disk dryrun 2 /hooks/bench 1
bench_case accept-tmpfs "POST, keep-alive, dry-run, 2 workers" tmpfs dryrun 2 /hooks/bench 0
bench_case deliver-w2-tmpfs "POST, keep-alive, to the sink, 2 workers" tmpfs sink 2 /hooks/bench 0
bench_case accept-close-tmpfs "POST, Connection: close, dry-run, 2 workers" tmpfs dryrun 2 /hooks/bench 1
bench_case healthz "GET /healthz, keep-alive" tmpfs dryrun 2 /healthz 0
bench_case healthz-close "GET /healthz, Connection: close" tmpfs dryrun 2 /healthz 1

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "## closehook bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) CPUs ($cpu), $(uname -sr); wrk, the nginx sink and the daemon share them."
echo "Each run: ${DURATION}s, $CONNECTIONS connections, $WRK_THREADS wrk threads; daemon \"threads\": 0 (one"
echo "event loop per CPU); access log off; a fresh store; fsyncs counted by perf while wrk ran."
echo
echo "| run | what | store | req/s | p50 ms | p99 ms | HTTP status:count | socket errors | fsyncs writer / all threads | 202s per writer fsync | delivered/s during load | delivered/s end to end |"
echo "|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "Commands (from the repository root; ports and temp paths as in this run):"
echo
echo '```'
printf '%s\n' "${COMMANDS[@]}"
echo '```'
