-- wrk script for mnemo's search route: POSTs the request bodies that
-- `loadgen bodies` wrote (one JSON document a line, query vectors as
-- embedding_b64), each thread cycling through them from its own offset, and
-- prints one JSON line (prefixed "WRKJSON ") with throughput, latency
-- percentiles and errors when the run ends.
--
--   wrk -t T -c C -d 10s --latency -s benches/wrk/search.lua URL -- BODIES TOKEN

local threads = 0

function setup(thread)
   thread:set("offset", threads * 37)
   threads = threads + 1
end

local bodies = {}
local next_body = 0

function init(args)
   for line in io.lines(args[1]) do
      bodies[#bodies + 1] = line
   end
   assert(#bodies > 0, "no request bodies in " .. args[1])
   wrk.method = "POST"
   wrk.path = "/v1/memories/npc/search"
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Authorization"] = "Bearer " .. args[2]
   next_body = offset or 0
end

function request()
   next_body = next_body % #bodies + 1
   return wrk.format(nil, nil, nil, bodies[next_body])
end

function done(summary, latency, requests)
   local e = summary.errors
   -- wrk counts a non-2xx/3xx answer in errors.status but still in requests
   -- and latency: the harness treats any error as a failed run.
   io.write(string.format(
      'WRKJSON {"requests":%d,"duration_s":%.3f,"qps":%.1f,' ..
      '"p50_ms":%.3f,"p75_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,' ..
      '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(75) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
      e.connect, e.read, e.write, e.status, e.timeout))
end
