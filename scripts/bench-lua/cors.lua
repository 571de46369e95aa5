-- cors.lua: GET /internal/cors?origin=O&tenantId=T (checkCORSOrigin), random
-- origins of the sampled applications, asked for their owner tenant.
local common = dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

common.install(function()
  local reqs = {}
  for _, rec in ipairs(common.data_fields("origins.txt")) do
    local origin, tenant = rec[1], rec[2]
    reqs[#reqs + 1] = wrk.format("GET",
      "/internal/cors?origin=" .. common.escape(origin) .. "&tenantId=" .. common.escape(tenant),
      common.bearer(os.getenv("BENCH_LOOKUP_TOKEN")))
  end
  return reqs
end, '"allowed":true')
