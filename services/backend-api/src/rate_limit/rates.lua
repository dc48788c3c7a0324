-- The request-rate buckets in Redis (rate_limit/rates.rs, GCRA): each decision is one call of this
-- script, so replicas racing on one bucket cannot let more through than it allows.
--
-- KEYS are the buckets one request counts against (a login: the account's and the address's); ARGV
-- holds two numbers per key, in order: the interval (ms) and the burst. A bucket's value is its
-- theoretical arrival time in milliseconds of Redis's clock; its TTL is the time until then, after
-- which a missing key means the same as the passed time, so Redis's memory stays bounded.
-- If any bucket refuses, nothing is counted and the longest wait (ms) is returned; otherwise every
-- bucket is moved on one interval and 0 is returned.

if redis.replicate_commands then
  redis.replicate_commands()
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local wait = 0
local next = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  if interval > 0 and burst > 0 then
    -- Rate::take
    local tat = tonumber(redis.call('GET', key) or now)
    if tat < now then
      tat = now
    end
    local tolerance = interval * (burst - 1)
    local ahead = tat - now
    if ahead > tolerance then
      wait = math.max(wait, ahead - tolerance)
    else
      next[key] = tat + interval
    end
  end
end
if wait > 0 then
  return math.ceil(wait)
end
for key, tat in pairs(next) do
  redis.call('SET', key, string.format('%d', tat), 'PX', string.format('%d', math.max(tat - now, 1)))
end
return 0
