-- wrk's script for benchmarks/bench_serve.py: POST the JSON body in WRK_BODY to the URL wrk was given.
-- WRK_SESSIONS=PREFIX sends X-Session-Id PREFIX-<thread>-<n>, a new session per request;
-- WRK_SESSIONS=one:ID sends X-Session-Id ID on every request (one session); unset: no header.
-- done() prints one JSON line: requests, seconds, p50/p99 latency (microseconds), errors.
local sessions = os.getenv("WRK_SESSIONS") or ""
local counter = 0
local threads = 0

wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function request()
  if sessions == "" then
    return wrk.request()
  end
  local id = string.match(sessions, "^one:(.+)$")
  if id == nil then
    counter = counter + 1
    id = sessions .. "-" .. tid .. "-" .. counter
  end
  return wrk.format(nil, nil, {["Content-Type"] = "application/json", ["X-Session-Id"] = id})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "seconds": %.6f, "p50_us": %d, "p99_us": %d, "errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
