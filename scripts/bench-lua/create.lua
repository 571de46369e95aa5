-- create.lua: POST /applications (createApplication), a confidential
-- application, so each request also hashes and stores a new secret.
local common = dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

common.install(function()
  local headers = common.bearer(os.getenv("BENCH_CREATE_TOKEN"))
  headers["Content-Type"] = "application/json"
  local body = '{"name":"bench","contacts":["ops@example.com"],"type":"confidential",'
    .. '"redirects":["https://app.example.com/cb"]}'
  return { wrk.format("POST", "/applications", headers, body) }
end, '"secret":"')
