-- view.lua: GET /applications/{id} (viewApplication), every application of a
-- few tenants, each with its own tenant's token.
local common = dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

common.install(function()
  local tokens = common.tenant_tokens()
  local reqs = {}
  for _, rec in ipairs(common.data_fields("tenant-apps.txt")) do
    local tenant, id = rec[1], rec[2]
    if tokens[tenant] then
      reqs[#reqs + 1] = wrk.format("GET", "/applications/" .. id, common.bearer(tokens[tenant]))
    end
  end
  return reqs
end, '"id":"')
