-- unknown.lua: GET /internal/clients/{id} for random client ids never sent before (issue 15):
-- none exists, so every answer must be a 404; they are counted as non-2xx.
local common = dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

common.install(function()
  prefix = string.format("unknown-%d-%d-", thread_number or 0, math.random(1e9))
  seq = 0
  headers = common.bearer(os.getenv("BENCH_LOOKUP_TOKEN"))
  return { "unused" }
end, nil)

-- request builds a new id each time: prefix (random per thread and run) and a counter.
function request()
  seq = seq + 1
  return wrk.format("GET", "/internal/clients/" .. prefix .. seq .. "?tenantId=t", headers)
end
