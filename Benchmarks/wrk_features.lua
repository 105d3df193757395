-- wrk script: POST a feature lookup for random drivers (1001..11000).
-- Env: LARDER_PATH (/v1/features or /get-online-features), LARDER_ENTITIES (per request).
local path = os.getenv("LARDER_PATH") or "/v1/features"
local n = tonumber(os.getenv("LARDER_ENTITIES") or "1")
local features = '["driver_hourly_stats:conv_rate","driver_hourly_stats:acc_rate","driver_hourly_stats:avg_daily_trips"]'

request = function()
  local ids = {}
  for i = 1, n do ids[i] = tostring(math.random(1001, 11000)) end
  local body
  if path == "/get-online-features" then
    body = '{"features":' .. features .. ',"entities":{"driver_id":[' .. table.concat(ids, ",") .. ']}}'
  else
    local rows = {}
    for i = 1, n do rows[i] = '{"driver_id":' .. ids[i] .. '}' end
    body = '{"features":' .. features .. ',"entities":[' .. table.concat(rows, ",") .. ']}'
  end
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
