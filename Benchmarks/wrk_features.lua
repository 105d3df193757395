-- wrk script: POST feature lookups for random drivers (1001..1000+LARDER_DRIVERS).
-- Env: LARDER_PATH (/v1/features or /get-online-features), LARDER_ENTITIES (per request),
-- LARDER_FEATURES (comma-separated view:feature references; default the three
-- driver_hourly_stats features), LARDER_DRIVERS (how many drivers; default 10000).
-- 1,000 requests are formatted once per thread and cycled, so the load generator spends its
-- (shared) CPU on sending, not on building bodies.
local path = os.getenv("LARDER_PATH") or "/v1/features"
local n = tonumber(os.getenv("LARDER_ENTITIES") or "1")
local drivers = tonumber(os.getenv("LARDER_DRIVERS") or "10000")
local names = {}
for name in string.gmatch(os.getenv("LARDER_FEATURES")
    or "driver_hourly_stats:conv_rate,driver_hourly_stats:acc_rate,driver_hourly_stats:avg_daily_trips", "[^,]+") do
  names[#names + 1] = '"' .. name .. '"'
end
local features = "[" .. table.concat(names, ",") .. "]"
local requests = {}
local next_request = 0

local function body()
  local ids = {}
  for i = 1, n do ids[i] = tostring(math.random(1001, 1000 + drivers)) end
  if path == "/get-online-features" then
    return '{"features":' .. features .. ',"entities":{"driver_id":[' .. table.concat(ids, ",") .. ']}}'
  end
  local rows = {}
  for i = 1, n do rows[i] = '{"driver_id":' .. ids[i] .. '}' end
  return '{"features":' .. features .. ',"entities":[' .. table.concat(rows, ",") .. ']}'
end

-- LARDER_TOKEN, when set, is sent as Authorization: Bearer (serve.tokens).
local token = os.getenv("LARDER_TOKEN")

init = function(args)
  local headers = {["Content-Type"] = "application/json"}
  if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end
  for i = 1, 1000 do
    requests[i] = wrk.format("POST", path, headers, body())
  end
end

request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
