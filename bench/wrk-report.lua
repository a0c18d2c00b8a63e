-- wrk reporter for the supervise benchmarks: prints one machine-readable line
-- after wrk's own summary. Latencies are in microseconds; "status" counts
-- responses with a status of 400 or more (wrk's "Non-2xx or 3xx responses").
--   wrk -t1 -c50 -d5s --latency -s bench/wrk-report.lua http://127.0.0.1:8080/
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"meanUs":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
