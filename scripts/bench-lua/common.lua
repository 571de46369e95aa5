-- common.lua: what the benchmark's wrk scripts share (scripts/bench runs them).
--
-- Each operation's script builds its requests once per thread from the seed's
-- files, then sends them in random order. Every script counts, the same way,
-- the answers that are not 2xx and the 2xx answers whose body lacks the
-- expected text (a verify answering "valid":false is not a success), and
-- prints one machine-readable line at the end:
--
--   BENCH requests=N duration_us=N p50_us=N p99_us=N non2xx=N unexpected=N errors=N
--
-- Environment: BENCH_DATA (the seed's -out directory), BENCH_LOOKUP_TOKEN,
-- BENCH_TENANT_TOKENS (a file of "tenant token" lines), BENCH_CREATE_TOKEN;
-- BENCH_ORDER=sequential sends every request in turn instead (the warm-ups:
-- every client reaches the service's cache once), thread i of BENCH_THREADS
-- taking requests i, i+BENCH_THREADS, ...
local M = {}

M.data = os.getenv("BENCH_DATA") or "."

-- fields reads a file of whitespace-separated fields, one record a line.
function M.fields(path)
  local f = assert(io.open(path, "r"))
  local out = {}
  for line in f:lines() do
    local rec = {}
    for w in line:gmatch("%S+") do rec[#rec + 1] = w end
    if #rec > 0 then out[#out + 1] = rec end
  end
  f:close()
  assert(#out > 0, path .. " is empty")
  return out
end

-- data reads one of the seed's files.
function M.data_fields(name) return M.fields(M.data .. "/" .. name) end

-- tenant_tokens maps tenant to its token, from BENCH_TENANT_TOKENS.
function M.tenant_tokens()
  local tokens = {}
  for _, rec in ipairs(M.fields(assert(os.getenv("BENCH_TENANT_TOKENS"), "BENCH_TENANT_TOKENS is not set"))) do
    tokens[rec[1]] = rec[2]
  end
  return tokens
end

-- bearer is an Authorization header table for token.
function M.bearer(token)
  return { ["Authorization"] = "Bearer " .. assert(token, "no token") }
end

-- escape percent-encodes s for a query string.
function M.escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- install defines wrk's hooks: build() returns the list of prebuilt requests
-- (wrk.format strings); expect is text every 2xx body must contain.
function M.install(build, expect)
  local threads = {}
  M.threads = threads -- for a script's own done(): each thread's globals, by thread:get

  function setup(thread)
    threads[#threads + 1] = thread
    thread:set("thread_number", #threads)
  end

  function init(args)
    math.randomseed(os.time() * 1000 + (thread_number or 0))
    requests = build()
    assert(#requests > 0, "no requests built")
    count = #requests
    sequential = os.getenv("BENCH_ORDER") == "sequential"
    step = tonumber(os.getenv("BENCH_THREADS") or "1") or 1
    position = (thread_number or 1) - 1
    non2xx = 0
    unexpected = 0
  end

  function request()
    if sequential then
      position = position % count + 1
      local r = requests[position]
      position = position + step - 1
      return r
    end
    return requests[math.random(count)]
  end

  -- BENCH_RATE (requests/s over all connections) paces the load: each connection waits an
  -- exponentially distributed time between its requests (Poisson arrivals), with the mean that
  -- makes BENCH_CONNECTIONS connections send BENCH_RATE requests a second. Unset: no pause.
  local rate = tonumber(os.getenv("BENCH_RATE") or "")
  if rate and rate > 0 then
    local mean_ms = 1000 * (tonumber(os.getenv("BENCH_CONNECTIONS") or "64") or 64) / rate
    function delay()
      return math.floor(-math.log(1 - math.random()) * mean_ms + 0.5)
    end
  end

  function response(status, headers, body)
    if status < 200 or status > 299 then
      non2xx = non2xx + 1
    elseif expect and not (body and body:find(expect, 1, true)) then
      unexpected = unexpected + 1
    end
  end

  function done(summary, latency, reqs)
    local n2, bad = 0, 0
    for _, t in ipairs(threads) do
      n2 = n2 + (t:get("non2xx") or 0)
      bad = bad + (t:get("unexpected") or 0)
    end
    local e = summary.errors
    io.write(string.format(
      "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d unexpected=%d errors=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      n2, bad, e.connect + e.read + e.write + e.timeout))
  end
end

return M
