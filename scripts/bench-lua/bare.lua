-- bare.lua: the ceiling, GET /bare on scripts/bare-echo.
local common = dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

common.install(function()
  return { wrk.format("GET", "/bare") }
end, '"allowed":true')
