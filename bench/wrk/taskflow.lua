-- wrk script for bench/run: one TaskFlow REST scenario over the seeded users and tasks.
--
-- Environment (set by bench/run):
--   BENCH_SCENARIO     get | list | create | update | complete
--   BENCH_SEED         the seed file written by `loadgen seed` ("U idx user_id token", "T idx task_id r|p")
--   BENCH_THREADS      wrk's -t (so each thread takes its own share of the tasks to complete)
--   BENCH_RATE         optional: target requests/s over all connections (fixed-rate mode)
--   BENCH_LIST         optional, `list` only: one query string (e.g. "?limit=50") sent on every
--                      request instead of rotating the six filter sets below (bench/run --growth)
--
-- Every request picks a random seeded user and, where it needs one, a random task of that user.
-- `complete` walks this thread's share of the recurring tasks in order, so every request completes a
-- pending task (and makes the server create its next occurrence); `wrapped` counts the requests made
-- after that share ran out (those find the task already completed and change nothing).

local scenario = os.getenv("BENCH_SCENARIO") or "get"
local seed_path = os.getenv("BENCH_SEED")
local n_threads = tonumber(os.getenv("BENCH_THREADS") or "1")
local rate = tonumber(os.getenv("BENCH_RATE") or "0")
-- `complete` walks its share from the end instead (bench/run's warm-up, so the measured run that
-- follows still finds pending tasks at the start of the share).
local reverse = os.getenv("BENCH_REVERSE") == "1"

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local users = {}     -- i -> {path = "/api/<id>/tasks", headers = {...}}
local plain = {}     -- i -> list of non-recurring task ids
local mine = {}      -- this thread's recurring tasks: list of {user, id}
local next_mine = 1
local exhausted = false
wrapped = 0
local sent = 0

local lists = {
  "?limit=50",
  "?status=pending&limit=50",
  "?priority=high&category=work&limit=50",
  "?tag=t3&limit=50",
  "?status=pending&sort_by=due_at&sort_order=asc&limit=50",
  "?priority=low&tag=t7&sort_by=priority&limit=50",
}
if (os.getenv("BENCH_LIST") or "") ~= "" then
  lists = { os.getenv("BENCH_LIST") }
end
local priorities = { "low", "medium", "high" }
local categories = { "work", "personal", "home", "other" }

function init(args)
  math.randomseed(os.time() + 7919 * (index or 0))
  local recurring_seen = 0
  for line in io.lines(seed_path) do
    local kind, idx, id, rest = line:match("^(%a) (%d+) (%S+) (%S+)$")
    if kind == "U" then
      local i = tonumber(idx) + 1
      users[i] = {
        path = "/api/" .. id .. "/tasks",
        get = { ["Authorization"] = "Bearer " .. rest },
        json = { ["Authorization"] = "Bearer " .. rest, ["Content-Type"] = "application/json" },
      }
      plain[i] = {}
    elseif kind == "T" then
      local u = tonumber(idx) + 1
      if rest == "r" then
        if recurring_seen % n_threads == (index or 0) then
          table.insert(mine, { u, id })
        end
        recurring_seen = recurring_seen + 1
      else
        table.insert(plain[u], id)
      end
    end
  end
end

local function random_user()
  local i = math.random(#users)
  return i, users[i]
end

function request()
  sent = sent + 1
  if scenario == "get" then
    local i, u = random_user()
    local tasks = plain[i]
    return wrk.format("GET", u.path .. "/" .. tasks[math.random(#tasks)], u.get)
  elseif scenario == "list" then
    local _, u = random_user()
    return wrk.format("GET", u.path .. lists[math.random(#lists)], u.get)
  elseif scenario == "create" then
    local _, u = random_user()
    local body = '{"title":"Bench task ' .. sent .. '","priority":"' .. priorities[math.random(3)]
      .. '","category":"' .. categories[math.random(4)] .. '","tags":["bench","t' .. math.random(0, 9) .. '"]}'
    return wrk.format("POST", u.path, u.json, body)
  elseif scenario == "update" then
    local i, u = random_user()
    local tasks = plain[i]
    local body = '{"title":"Updated ' .. sent .. '","priority":"' .. priorities[math.random(3)] .. '"}'
    return wrk.format("PATCH", u.path .. "/" .. tasks[math.random(#tasks)], u.json, body)
  elseif scenario == "complete" then
    if #mine == 0 then
      error("no recurring tasks in the seed for this thread")
    end
    if next_mine > #mine then
      next_mine = 1
      exhausted = true
    end
    if exhausted then
      wrapped = wrapped + 1
    end
    local t = mine[reverse and (#mine + 1 - next_mine) or next_mine]
    next_mine = next_mine + 1
    return wrk.format("PATCH", users[t[1]].path .. "/" .. t[2] .. "/complete", users[t[1]].json, '{"completed":true}')
  end
  error("unknown BENCH_SCENARIO " .. scenario)
end

if rate > 0 then
  -- Fixed rate: each thread hands out send slots every `n_threads / rate` seconds on the monotonic
  -- clock; a connection whose response came back waits for the next free slot. A schedule that fell
  -- far behind (the server could not keep up) restarts from now rather than bursting.
  local ffi = require("ffi")
  ffi.cdef([[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clk_id, bench_timespec *tp);
  ]])
  local ts = ffi.new("bench_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 * n_threads / rate
  local slot = nil
  function delay()
    local now = now_ms()
    if slot == nil or slot < now - 100 then
      slot = now
    end
    slot = slot + interval
    return math.max(0, slot - now)
  end
end

function done(summary, latency, requests)
  local wraps = 0
  for _, t in ipairs(threads) do
    wraps = wraps + (t:get("wrapped") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"wrapped":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
    math.floor(latency:percentile(99)), math.floor(latency.max),
    e.connect, e.read, e.write, e.status, e.timeout, wraps))
end
