-- list-page.lua: GET /applications?limit=10 (listApplication), the first page
-- of 10 for a few tenants, each with its own token.
local common = dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

common.install(function()
  local reqs = {}
  for _, token in pairs(common.tenant_tokens()) do
    reqs[#reqs + 1] = wrk.format("GET", "/applications?limit=10", common.bearer(token))
  end
  return reqs
end, '"applications":[{')
