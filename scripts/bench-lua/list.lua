-- list.lua: GET /applications (listApplication) for a few tenants, each with
-- its own token: every application of the tenant in one answer.
local common = dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

common.install(function()
  local reqs = {}
  for _, token in pairs(common.tenant_tokens()) do
    reqs[#reqs + 1] = wrk.format("GET", "/applications", common.bearer(token))
  end
  return reqs
end, '"applications":[{')
