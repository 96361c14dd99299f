-- The wrk script of bench/run.sh: sends precomputed signed webhooks (wrk's Lua
-- has no HMAC; bench/make_bodies.py signs them) and prints one machine-readable
-- "BENCH key=value ..." line that run.sh turns into the table.
--
-- Environment (wrk passes its own to every thread's Lua state):
--   BENCH_BODIES  file of "<hex signature> <body>" lines; unset: wrk's plain GET
--                 of the URL (the /healthz run)
--   BENCH_THREADS wrk's -t, so each thread takes a disjoint slice of the lines
--                 (thread k sends lines k, k+T, k+2T …): no id is sent twice
--                 until a slice runs out and wraps (those answer 200 duplicate)
--   BENCH_CLOSE   "1": send "Connection: close" on each request

local bodies = os.getenv("BENCH_BODIES")
local extra = {}
if os.getenv("BENCH_CLOSE") == "1" then
  extra["Connection"] = "close"
end

local next_index = 0
function setup(thread)
  thread:set("bench_index", next_index)
  next_index = next_index + 1
end

local requests_ = {}
local cursor = 0

function init(args)
  if not bodies then
    if next(extra) then
      wrk.headers["Connection"] = extra["Connection"]
    end
    return
  end
  local stride = tonumber(os.getenv("BENCH_THREADS") or "1")
  local mine = bench_index or 0
  local line_no = 0
  for line in io.lines(bodies) do
    if line_no % stride == mine then
      local sig, body = line:match("^(%x+) (.*)$")
      local headers = {
        ["Content-Type"] = "application/json",
        ["X-Signature-256"] = "sha256=" .. sig,
      }
      for k, v in pairs(extra) do headers[k] = v end
      requests_[#requests_ + 1] = wrk.format("POST", nil, headers, body)
    end
    line_no = line_no + 1
  end
end

-- Defined only when there are bodies: without request(), wrk sends its static
-- request, the cheapest client for the /healthz ceiling.
if bodies then
  request = function()
    cursor = cursor % #requests_ + 1
    return requests_[cursor]
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx3xx=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_timeout=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.status,
    e.connect, e.read, e.write, e.timeout))
end
