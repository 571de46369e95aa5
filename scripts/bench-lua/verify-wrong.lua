-- verify-wrong.lua: POST /internal/clients/{BENCH_FLOOD_CLIENT}/verify with wrong secrets, as
-- the authorization server sends when anyone on the internet presents wrong credentials for
-- an imported client (issue 15). Every answer must be a 200 with "valid":false (wrong_secret,
-- throttled or busy); the reasons are counted apart and printed as a FLOOD line.
local common = dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

common.install(function()
  local reqs = {}
  local id = assert(os.getenv("BENCH_FLOOD_CLIENT"), "BENCH_FLOOD_CLIENT is not set")
  local headers = common.bearer(os.getenv("BENCH_LOOKUP_TOKEN"))
  headers["Content-Type"] = "application/json"
  for i = 1, 256 do
    local body = string.format('{"secret":"wrong-secret-%d-%d","tenantId":"bench-legacy"}', i, math.random(1e9))
    reqs[#reqs + 1] = wrk.format("POST", "/internal/clients/" .. id .. "/verify", headers, body)
  end
  return reqs
end, '"valid":false')

local base_response, base_done = response, done

function response(status, headers, body)
  base_response(status, headers, body)
  if body then
    if body:find('"busy"', 1, true) then busy = (busy or 0) + 1
    elseif body:find('"throttled"', 1, true) then throttled = (throttled or 0) + 1
    elseif body:find('"wrong_secret"', 1, true) then wrong = (wrong or 0) + 1
    end
  end
end

function done(summary, latency, reqs)
  base_done(summary, latency, reqs)
  local b, t, w = 0, 0, 0
  for _, th in ipairs(common.threads) do
    b = b + (th:get("busy") or 0)
    t = t + (th:get("throttled") or 0)
    w = w + (th:get("wrong") or 0)
  end
  io.write(string.format("FLOOD busy=%d throttled=%d wrong_secret=%d\n", b, t, w))
end
