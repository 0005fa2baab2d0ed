-- wrk script: POSTs one fixed, pre-signed ~25 KB delivery with a unique X-GitHub-Delivery per
-- request. Reads the body from $LOAD_BODY and its signature from $LOAD_SIGNATURE.
local counter = 0

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(os.getenv("LOAD_BODY"), "rb"))
  wrk.body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.path = "/webhook"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-GitHub-Event"] = "pull_request_review"
  wrk.headers["X-Hub-Signature-256"] = os.getenv("LOAD_SIGNATURE")
  prefix = os.getenv("LOAD_RUN") .. "-" .. tostring(thread_id) .. "-"
end

function request()
  counter = counter + 1
  wrk.headers["X-GitHub-Delivery"] = prefix .. counter
  return wrk.format()
end

function done(summary, latency, requests)
  io.write(string.format("LOAD requests=%d duration_s=%.3f non2xx=%d errors=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000))
end
