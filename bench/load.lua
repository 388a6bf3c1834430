-- wrk script of bench/load.sh: sends, over and over, exactly one prepared request (method, path,
-- headers, body: a pre-signed SigV4 invoke), and counts the responses by status, so that a flood
-- of 403s or 429s can never pass for throughput.
--
--   wrk ... -s bench/load.lua http://HOST:PORT/ -- REQUEST.lua
--
-- REQUEST.lua (written by load_helper.py presign) returns
--   { method = "POST", path = "/...", headers = { ["Name"] = "value", ... }, body = "{}" }
-- On completion one line is printed: `WRK_JSON {...}` with requests, duration, latency
-- percentiles (microseconds), socket errors, the count of non-2xx responses, the count of
-- responses carrying X-Amz-Function-Error, and every status seen.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

statuses = {}
funcerr = 0
local req

function init(args)
   local spec = dofile(args[1])
   req = wrk.format(spec.method, spec.path, spec.headers, spec.body)
end

function request()
   return req
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   if headers["x-amz-function-error"] or headers["X-Amz-Function-Error"] then
      funcerr = funcerr + 1
   end
end

function done(summary, latency, requests)
   local all, non2xx, ferr = {}, 0, 0
   for _, t in ipairs(threads) do
      local s = t:get("statuses") or {}
      for code, n in pairs(s) do
         all[code] = (all[code] or 0) + n
      end
      ferr = ferr + (t:get("funcerr") or 0)
   end
   local parts = {}
   for code, n in pairs(all) do
      if code < 200 or code > 299 then
         non2xx = non2xx + n
      end
      table.insert(parts, string.format('"%d":%d', code, n))
   end
   local e = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,'
         .. '"mean_us":%.1f,"max_us":%.1f,"non2xx":%d,"funcerr":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d},'
         .. '"statuses":{%s}}\n',
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max, non2xx, ferr,
      e.connect, e.read, e.write, e.timeout, e.status,
      table.concat(parts, ",")))
end
