-- lookup.lua: GET /internal/clients/{id}?tenantId=T (lookupClient), random
-- sampled clients asked for their owner tenant.
local common = dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

common.install(function()
  local reqs = {}
  for _, rec in ipairs(common.data_fields("ids.txt")) do
    local id, tenant = rec[1], rec[2]
    reqs[#reqs + 1] = wrk.format("GET", "/internal/clients/" .. id .. "?tenantId=" .. common.escape(tenant),
      common.bearer(os.getenv("BENCH_LOOKUP_TOKEN")))
  end
  return reqs
end, '"allowedForTenant":true')
