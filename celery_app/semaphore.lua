-- The Lua half of celery_app/semaphore.py: leased slots for max_running and resources.
--
-- joins.py loads this file with joins.lua: the "common" section here follows joins.lua's, so
-- the claim and release scripts there take and give back slots in the same atomic step as the
-- claim itself. A semaphore is four keys (celery_app.keys.SemKeys): holders (ZSET holder ->
-- lease expiry in ms of Redis TIME), units (HASH holder -> units), state (HASH used, capacity)
-- and waiters (ZSET waiter -> place in line). Holders and waiters are "run_id|task_id".
--
-- A demand is one line per semaphore, "name<TAB>units<TAB>capacity"; a capacity of -1 means
-- "the run's capacity for this resource" (the run's meta field "capacities", default 1).
-- Every function is O(semaphores of the task + holders that expired + waiters looked at).

--- script: common
local DEFAULT_CAPACITY = 1
local GRANT_SCAN = 100

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function sem_key(prefix, name, part)
  return prefix .. ':sem:' .. name .. ':' .. part
end

local function parse_demand(text)
  local out = {}
  for name, units, cap in string.gmatch(text or '', '([^\t\n]+)\t(%d+)\t(%-?%d+)') do
    out[#out + 1] = {name, tonumber(units), tonumber(cap)}
  end
  return out
end

local function encode_demand(demand)
  local lines = {}
  for _, d in ipairs(demand) do
    lines[#lines + 1] = d[1] .. '\t' .. d[2] .. '\t' .. d[3]
  end
  return table.concat(lines, '\n')
end

-- Fill in resource capacities from the run's meta (set by the submitter: [resources] and
-- --resources); a resource nobody configured has DEFAULT_CAPACITY, as on the local executor.
local function resolve_capacities(demand, meta_key)
  local caps = nil
  for _, d in ipairs(demand) do
    if d[3] < 0 then
      if caps == nil then
        local raw = redis.call('HGET', meta_key, 'capacities')
        caps = raw and cjson.decode(raw) or {}
      end
      local resource = string.sub(d[1], #'resource:' + 1)
      d[3] = tonumber(caps[resource]) or DEFAULT_CAPACITY
    end
  end
  return demand
end

local function split_holder(holder)
  return string.match(holder, '^(.*)|([^|]*)$')
end

local function sem_used(prefix, name)
  return tonumber(redis.call('HGET', sem_key(prefix, name, 'state'), 'used') or '0')
end

local function sem_touch(prefix, name, ttl)
  for _, part in ipairs({'holders', 'units', 'state', 'waiters'}) do
    redis.call('EXPIRE', sem_key(prefix, name, part), ttl)
  end
  redis.call('SADD', prefix .. ':sems', name)
  redis.call('EXPIRE', prefix .. ':sems', ttl)
end

-- Give back the units of holders whose lease ran out (a dead worker's slots).
local function sem_expire(prefix, name, now, ttl)
  local holders = sem_key(prefix, name, 'holders')
  local gone = redis.call('ZRANGEBYSCORE', holders, '-inf', now)
  if #gone == 0 then
    return 0
  end
  local units = sem_key(prefix, name, 'units')
  local freed = 0
  for _, holder in ipairs(gone) do
    freed = freed + tonumber(redis.call('HGET', units, holder) or '0')
    redis.call('HDEL', units, holder)
    redis.call('ZREM', holders, holder)
  end
  local state = sem_key(prefix, name, 'state')
  if redis.call('HINCRBY', state, 'used', -freed) < 0 then
    redis.call('HSET', state, 'used', 0)
  end
  redis.call('EXPIRE', state, ttl)
  return #gone
end

local function sem_fits(prefix, demand)
  for _, d in ipairs(demand) do
    if sem_used(prefix, d[1]) + d[2] > d[3] then
      return false
    end
  end
  return true
end

-- True if the holder has a live lease on every semaphore of the demand (a granted waiter).
local function sem_holds_all(prefix, demand, holder, now)
  for _, d in ipairs(demand) do
    local expiry = redis.call('ZSCORE', sem_key(prefix, d[1], 'holders'), holder)
    if not expiry or tonumber(expiry) <= now then
      return false
    end
  end
  return true
end

-- Take (or refresh) the holder's units on every semaphore of the demand.
local function sem_take(prefix, demand, holder, expiry, ttl)
  for _, d in ipairs(demand) do
    local name = d[1]
    local state = sem_key(prefix, name, 'state')
    if redis.call('ZADD', sem_key(prefix, name, 'holders'), expiry, holder) == 1 then
      redis.call('HSET', sem_key(prefix, name, 'units'), holder, d[2])
      redis.call('HINCRBY', state, 'used', d[2])
    end
    redis.call('HSET', state, 'capacity', d[3])
    sem_touch(prefix, name, ttl)
  end
end

-- Give back the holder's units; returns the names of the semaphores it held.
local function sem_give_back(prefix, names, holder, ttl)
  local freed = {}
  for _, name in ipairs(names) do
    local units_key = sem_key(prefix, name, 'units')
    local units = redis.call('HGET', units_key, holder)
    if units then
      redis.call('HDEL', units_key, holder)
      redis.call('ZREM', sem_key(prefix, name, 'holders'), holder)
      local state = sem_key(prefix, name, 'state')
      if redis.call('HINCRBY', state, 'used', -tonumber(units)) < 0 then
        redis.call('HSET', state, 'used', 0)
      end
      redis.call('EXPIRE', state, ttl)
      freed[#freed + 1] = name
    end
  end
  return freed
end

local function sem_unpark(prefix, demand, waiter)
  for _, d in ipairs(demand) do
    redis.call('ZREM', sem_key(prefix, d[1], 'waiters'), waiter)
  end
  redis.call('DEL', prefix .. ':semwait:' .. waiter)
end

-- Park a task that found no room: it keeps its place in line on every semaphore it needs,
-- higher priority first, then first come. Its message is acknowledged; a release hands it the
-- slots and puts it back in its run's outbox (sem_grant), so no worker waits.
local function sem_park(prefix, demand, waiter, priority, now, ttl)
  redis.call('SET', prefix .. ':semwait:' .. waiter, encode_demand(demand), 'EX', ttl)
  local place = string.format('%.0f', -priority * 1e13 + now)
  for _, d in ipairs(demand) do
    redis.call('ZADD', sem_key(prefix, d[1], 'waiters'), 'NX', place, waiter)
    redis.call('HSET', sem_key(prefix, d[1], 'state'), 'capacity', d[3])
    sem_touch(prefix, d[1], ttl)
  end
end

-- Hand free room on semaphore `name` to its waiters, best place first. A waiter gets all of its
-- semaphores in one step or keeps its place; one that does not fit does not block the ones
-- behind it. A granted waiter holds the slots under a fresh lease and is handed over to be
-- published (hand_over in joins.lua). Returns the count.
local function sem_grant(prefix, name, now, lease, ttl)
  local waiters_key = sem_key(prefix, name, 'waiters')
  local waiters = redis.call('ZRANGE', waiters_key, 0, GRANT_SCAN - 1)
  local granted = 0
  for _, waiter in ipairs(waiters) do
    local capacity = tonumber(redis.call('HGET', sem_key(prefix, name, 'state'), 'capacity'))
    if capacity and sem_used(prefix, name) >= capacity then
      break
    end
    local text = redis.call('GET', prefix .. ':semwait:' .. waiter)
    if not text then
      redis.call('ZREM', waiters_key, waiter)
    else
      local demand = parse_demand(text)
      if sem_fits(prefix, demand) then
        sem_unpark(prefix, demand, waiter)
        local rid, task = split_holder(waiter)
        local base = prefix .. ':run:{' .. rid .. '}:'
        if is_live(base .. 'meta') and redis.call('SISMEMBER', base .. 'done', task) == 0 then
          sem_take(prefix, demand, waiter, now + lease, ttl)
          hand_over(prefix, rid, task, ttl)
          granted = granted + 1
        end
      end
    end
  end
  return granted
end

-- The semaphore part of a claim: serve the parked waiters first, then take the slots if they
-- fit. Returns true if the holder now holds every slot of the demand, false if it was parked.
local function sem_acquire(prefix, demand, holder, priority, now, lease, ttl)
  -- A holder that is parked already (a duplicate message) gives its place up and asks again.
  local parked = redis.call('GET', prefix .. ':semwait:' .. holder)
  if parked then
    sem_unpark(prefix, parse_demand(parked), holder)
  end
  for _, d in ipairs(demand) do
    sem_expire(prefix, d[1], now, ttl)
    redis.call('HSET', sem_key(prefix, d[1], 'state'), 'capacity', d[3])
    sem_grant(prefix, d[1], now, lease, ttl)
  end
  if sem_holds_all(prefix, demand, holder, now) or sem_fits(prefix, demand) then
    sem_take(prefix, demand, holder, now + lease, ttl)
    return true
  end
  -- A partial hold (some lease ran out) goes back before waiting for all of it again.
  local names = {}
  for _, d in ipairs(demand) do
    names[#names + 1] = d[1]
  end
  sem_give_back(prefix, names, holder, ttl)
  sem_park(prefix, demand, holder, priority, now, ttl)
  return false
end

-- Give back the holder's slots and hand the room to waiters.
local function sem_release(prefix, names, holder, lease, ttl)
  local freed = sem_give_back(prefix, names, holder, ttl)
  if #freed == 0 then
    return 0
  end
  local now = now_ms()
  local granted = 0
  for _, name in ipairs(freed) do
    granted = granted + sem_grant(prefix, name, now, lease, ttl)
  end
  return granted
end

local function split_lines(text)
  local out = {}
  for line in string.gmatch(text or '', '[^\n]+') do
    out[#out + 1] = line
  end
  return out
end

--- script: reap_sems
-- KEYS: P:sems. ARGV: prefix, lease_ms, ttl.
-- Frees the slots of holders whose lease ran out, hands the room to waiters and forgets
-- semaphores nobody holds or waits for. Returns {slots freed, waiters granted}.
local prefix, lease, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local freed, granted = 0, 0
for _, name in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  freed = freed + sem_expire(prefix, name, now, ttl)
  granted = granted + sem_grant(prefix, name, now, lease, ttl)
  if redis.call('ZCARD', sem_key(prefix, name, 'holders')) == 0
    and redis.call('ZCARD', sem_key(prefix, name, 'waiters')) == 0 then
    redis.call('SREM', KEYS[1], name)
    redis.call('DEL', sem_key(prefix, name, 'units'), sem_key(prefix, name, 'state'))
  end
end
return {freed, granted}

--- script: reap_claims
-- KEYS: P:claims. ARGV: prefix, ttl, limit.
-- Claims whose lease ran out: their holder ("rid|task") died, or never settled (a settle that
-- was sent but never arrived). The runs parked on the claim get the task back in their
-- outboxes, and so does the holder's own run unless the task is done or failed there (a
-- holder that finished but died before settling leaves it to run again, found complete).
-- Returns the number of runs the task was handed back to.
local prefix, ttl = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local woken = 0
for _, member in ipairs(expired) do
  local rid, task = string.match(member, '^([^|]*)|(.*)$')
  local key = prefix .. ':claim:' .. task
  local value = redis.call('GET', key)
  if value and rid and string.sub(value, 1, #rid + 1) == rid .. '|' then
    -- Still held by that run (renewed meanwhile): look again when the lease runs out.
    redis.call('ZADD', KEYS[1], now + math.max(redis.call('PTTL', key), 0), member)
  else
    redis.call('ZREM', KEYS[1], member)
    if rid then
      local wait_key = prefix .. ':claimwait:' .. task
      local parked = redis.call('LPOS', wait_key, rid)
      if not value then
        woken = woken + wake_waiters(wait_key, prefix, task, ttl)
      end
      local base = prefix .. ':run:{' .. rid .. '}:'
      if not parked and is_live(base .. 'meta')
          and redis.call('SISMEMBER', base .. 'done', task) == 0
          and redis.call('SISMEMBER', base .. 'failed', task) == 0 then
        hand_over(prefix, rid, task, ttl)
        woken = woken + 1
      end
    end
  end
end
return woken
