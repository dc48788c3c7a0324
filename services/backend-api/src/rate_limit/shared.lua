-- The login throttle's budgets in Redis (rate_limit/shared.rs): each decision is one call of this
-- script, so replicas racing on the same account or address cannot slip past a budget.
--
-- The rules are those of rate_limit/limits.rs (Budget), in Lua. A record is a hash {count, last}:
-- the attempts counted, and the time of the last one in milliseconds of Redis's clock (one clock for
-- every replica). Its TTL is its retention: the lockout its count earns, then a whole window, from
-- the last attempt; so a forgotten record is also a deleted one and Redis's memory stays bounded.
--
-- ARGV[1] = "attempt": KEYS are the records one attempt counts against (a login: the account's and
--   the address's), and ARGV holds three numbers per key, in order: limit (0: that budget is off),
--   first lockout (ms), window (ms). If any record is locked, nothing is counted and the longest
--   wait (ms) is returned; otherwise the attempt is counted in every record and 0 is returned.
-- ARGV[1] = "login-succeeded": KEYS[1] is the account's record (deleted: it starts afresh), KEYS[2]
--   the address's (one attempt given back); ARGV[2..4] are the address budget's three numbers.

-- Needed before Redis 5 to write after reading TIME; a no-op since (effects are replicated).
if redis.replicate_commands then
  redis.replicate_commands()
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- limits.rs MAX_DOUBLINGS
local MAX_DOUBLINGS = 16

-- Budget::lockout_after
local function lockout_after(count, b)
  if b.limit == 0 or count < b.limit then
    return 0
  end
  return math.min(b.lockout * 2 ^ math.min(count - b.limit, MAX_DOUBLINGS), b.window)
end

-- Budget::retention
local function retention(count, b)
  return lockout_after(count, b) + b.window
end

local function budget(i)
  return {
    limit = tonumber(ARGV[3 * i - 1]),
    lockout = tonumber(ARGV[3 * i]),
    window = tonumber(ARGV[3 * i + 1]),
  }
end

-- The record's count and last attempt (nil when absent).
local function read(key)
  local r = redis.call('HMGET', key, 'count', 'last')
  return tonumber(r[1]), tonumber(r[2])
end

-- Budget::live_count, and the time since the last attempt.
local function live(key, b)
  local count, last = read(key)
  if not count or not last then
    return 0, 0
  end
  local idle = math.max(now - last, 0)
  if idle >= retention(count, b) then
    return 0, idle
  end
  return count, idle
end

local function store(key, count, last, ttl)
  redis.call('HSET', key, 'count', string.format('%d', count), 'last', string.format('%d', last))
  redis.call('PEXPIRE', key, string.format('%d', ttl))
end

local op = ARGV[1]

if op == 'attempt' then
  local budgets = {}
  local wait = 0
  for i, key in ipairs(KEYS) do
    local b = budget(i)
    budgets[i] = b
    if b.limit > 0 then
      -- Budget::wait
      local count, idle = live(key, b)
      local lock = lockout_after(count, b)
      if lock > idle then
        wait = math.max(wait, lock - idle)
      end
    end
  end
  if wait > 0 then
    return math.ceil(wait)
  end
  for i, key in ipairs(KEYS) do
    local b = budgets[i]
    if b.limit > 0 then
      -- Budget::counted
      local count = live(key, b) + 1
      store(key, count, now, retention(count, b))
    end
  end
  return 0
elseif op == 'login-succeeded' then
  redis.call('DEL', KEYS[1])
  local b = budget(1)
  local count, last = read(KEYS[2])
  if count and last then
    -- Budget::given_back
    count = math.max(count - 1, 0)
    local ttl = last + retention(count, b) - now
    if ttl > 0 then
      store(KEYS[2], count, last, ttl)
    else
      redis.call('DEL', KEYS[2])
    end
  end
  return 0
end

return redis.error_reply('unknown operation ' .. tostring(op))
