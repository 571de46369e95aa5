-- verify.lua: POST /internal/clients/{id}/verify (verifyClientSecret) with the
-- right secret and the owner tenant, over the sampled clients that have one.
local common = dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

common.install(function()
  local reqs = {}
  for _, rec in ipairs(common.data_fields("ids.txt")) do
    local id, tenant, secret = rec[1], rec[2], rec[4]
    if secret ~= "-" then
      local headers = common.bearer(os.getenv("BENCH_LOOKUP_TOKEN"))
      headers["Content-Type"] = "application/json"
      local body = string.format('{"secret":"%s","tenantId":"%s"}', secret, tenant)
      reqs[#reqs + 1] = wrk.format("POST", "/internal/clients/" .. id .. "/verify", headers, body)
    end
  end
  return reqs
end, '"valid":true')
