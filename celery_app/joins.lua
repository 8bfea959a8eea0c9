-- The Lua half of celery_app/joins.py: the scripts that keep a run's bookkeeping in Redis.
--
-- joins.py splits this file at the "--- script: NAME" lines and prepends the "common" section
-- to every script. Scripts that work on a run receive its seven keys as KEYS[1..7] in the order
-- of celery_app.keys.RunKeys: meta, nodes, waiting, done, failed, outbox, events.
--
-- Apart from "create", which writes one chunk of a new run, every script is O(degree): it
-- touches the task, its direct dependents or requirements and the runs waiting for it, never
-- the whole run. Every state change can be applied twice without changing the outcome, because
-- redelivered messages make that happen ("event" appends whatever a worker reports).

--- script: common
local META, NODES, WAITING, DONE, FAILED, OUTBOX, EVENTS = 1, 2, 3, 4, 5, 6, 7

local function refresh_run(ttl)
  for i = 1, 7 do
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end

local function is_live(meta_key)
  return redis.call('HGET', meta_key, 'status') == 'RUNNING'
end

local function unique(list)
  local seen, out = {}, {}
  for _, item in ipairs(list or {}) do
    if not seen[item] then
      seen[item] = true
      out[#out + 1] = item
    end
  end
  return out
end

-- unpack() of a few thousand values overflows the Lua stack: push in slices.
local function push_all(key, list)
  for i = 1, #list, 1000 do
    redis.call('RPUSH', key, unpack(list, i, math.min(i + 999, #list)))
  end
end

-- cjson encodes an empty table as {}, but the node JSON promises a list.
local function json_list(list)
  if #list == 0 then
    return '[]'
  end
  return cjson.encode(list)
end

-- Put a task in a run's outbox for someone else to publish: "rid|task" goes to P:woken, and
-- whoever takes that entry publishes the message (RunStore.take_woken); the outbox entry
-- stays until then, so the reaper republishes it if that worker dies first.
local function hand_over(prefix, rid, task, ttl)
  local base = prefix .. ':run:{' .. rid .. '}:'
  redis.call('RPUSH', base .. 'outbox', task)
  redis.call('EXPIRE', base .. 'outbox', ttl)
  redis.call('RPUSH', prefix .. ':woken', rid .. '|' .. task)
  redis.call('EXPIRE', prefix .. ':woken', ttl)
end

-- Hand a task to the runs parked on its claim: each one still running that has not finished
-- the task gets it back in its outbox, so its worker publishes the message again.
local function wake_waiters(wait_key, prefix, task, ttl)
  local runs = redis.call('LRANGE', wait_key, 0, -1)
  if #runs == 0 then
    return 0
  end
  redis.call('DEL', wait_key)
  local woken = 0
  for _, rid in ipairs(runs) do
    local base = prefix .. ':run:{' .. rid .. '}:'
    if is_live(base .. 'meta') and redis.call('SISMEMBER', base .. 'done', task) == 0 then
      hand_over(prefix, rid, task, ttl)
      woken = woken + 1
    end
  end
  return woken
end

local function holds(value, token)
  return value and string.match(value, '|([^|]*)$') == token
end

-- The end of a run, recorded by whoever makes it happen: the settle of its last task, a cancel,
-- or a submitter that saw the end. Sets the final status in the meta (what `dagcore status`
-- shows), drops the run from P:runs and adds a run_finished event to the history stream in the
-- same step, so history and status never disagree and a detached run closes itself.
-- `status` nil: worked out as the summary would (FAILED > MISSING_EXT > SUCCESS_WITH_RETRY >
-- SUCCESS). `event`: a run event type to add ('' for none). Returns the status, or nil if the
-- run was not RUNNING (closed already: nothing changes).
local function close_run(prefix, status, reason, event)
  if redis.call('HGET', KEYS[META], 'status') ~= 'RUNNING' then
    return nil
  end
  local rid = string.match(KEYS[META], '{(.*)}')
  local m = redis.call('HMGET', KEYS[META], 'missing', 'retried', 'codes')
  local missing = tonumber(m[1] or '0') or 0
  local codes = {}
  if m[3] then
    codes = cjson.decode(m[3])
  end
  local failed = redis.call('SCARD', KEYS[FAILED])
  if not status then
    if failed > 0 then
      status = 'FAILED'
    elseif missing > 0 then
      status = 'MISSING_EXT'
    elseif m[2] == '1' then
      status = 'SUCCESS_WITH_RETRY'
    else
      status = 'SUCCESS'
    end
  end
  -- The exit code as the summary computes it: the largest code among what applies.
  local code = 0
  local function apply(name, default, applies)
    local value = tonumber(codes[name] or default)
    if applies and value > code then
      code = value
    end
  end
  apply('missing_data', 20, missing > 0)
  apply('task_failed', 30, failed > 0)
  apply('not_run', 25, status == 'CANCELLED' or status == 'NOT_RUN')
  local t = redis.call('TIME')
  local ended = string.format('%s.%06d', t[1], tonumber(t[2]))
  redis.call('HSET', KEYS[META], 'status', status, 'ended', ended, 'reason', reason)
  redis.call('SREM', prefix .. ':runs', rid)
  if event ~= '' then
    redis.call('XADD', KEYS[EVENTS], '*', 'type', event, 'task', '', 'status', status)
  end
  local finished = cjson.encode({
    kind = 'run_finished', run_id = rid, finished_at = ended, status = status,
    exit_code = code, summary_text = reason,
  })
  redis.call('XADD', prefix .. ':history', '*', 'e', finished)
  return status
end

-- Tasks of the run that are ready, running or waiting to retry ('active' in the meta; runs
-- created before it existed have no such field and are never closed this way). When none is
-- left, nothing can happen any more: the run is over.
local function settle_active(prefix, delta)
  if redis.call('HEXISTS', KEYS[META], 'active') == 0 then
    return
  end
  local active = redis.call('HINCRBY', KEYS[META], 'active', delta)
  if active <= 0 then
    close_run(prefix, nil, 'ended when its last task settled', 'closed')
  end
end

--- script: shared
-- Functions several scripts share that need the semaphore functions of semaphore.lua, which
-- come after this file's common section (joins.py loads this section after both).

-- Record a task done in its run: the dependents whose last requirement it was go to the
-- outbox, exactly once. Returns {id, node JSON, id, node JSON, ...} of those dependents (empty
-- on a repeat call), or an error reply if the task is not in the run.
local function finish(task, wait_key, prefix, ttl)
  local raw = redis.call('HGET', KEYS[NODES], task)
  if not raw then
    return redis.error_reply('UNKNOWN_TASK ' .. task)
  end
  local ready = {}
  -- Set membership, not a counter, decides "first time": a second call stops here.
  if redis.call('SADD', KEYS[DONE], task) == 1 then
    for _, dep in ipairs(unique(cjson.decode(raw)['dependents'])) do
      local left = tonumber(redis.call('HGET', KEYS[WAITING], dep))
      if left and left > 0 and redis.call('SISMEMBER', KEYS[DONE], dep) == 0 then
        if redis.call('HINCRBY', KEYS[WAITING], dep, -1) == 0 then
          ready[#ready + 1] = dep
        end
      end
    end
    -- A cancelled run keeps its counts right but publishes nothing more.
    local live = is_live(KEYS[META])
    if not live then
      ready = {}
    end
    push_all(KEYS[OUTBOX], ready)
    redis.call('XADD', KEYS[EVENTS], '*', 'type', 'done', 'task', task)
    if live then
      local delta = #ready
      if redis.call('SISMEMBER', KEYS[FAILED], task) == 0 then
        delta = delta - 1  -- this task settled (a failed one was counted out already)
      end
      settle_active(prefix, delta)
    end
  end
  wake_waiters(wait_key, prefix, task, ttl)
  refresh_run(ttl)
  local out = {}
  for _, dep in ipairs(ready) do
    out[#out + 1] = dep
    out[#out + 1] = redis.call('HGET', KEYS[NODES], dep)
  end
  return out
end

-- Give up the claim held with `token` and its slots (handed to the next waiters); the runs
-- parked on the claim get the task back. Returns 1, or 0 (changing nothing) if `token` does not
-- hold the claim. `keep_starts`: an interrupted attempt still counts towards "lost".
local function release(claim_key, wait_key, claims_key, starts_key, token, prefix, task, ttl,
                       holder, sem_names, lease, keep_starts)
  if not holds(redis.call('GET', claim_key), token) then
    return 0
  end
  redis.call('DEL', claim_key)
  if not keep_starts then
    redis.call('DEL', starts_key)
  end
  redis.call('ZREM', claims_key, holder)
  sem_release(prefix, split_lines(sem_names), holder, lease, ttl)
  wake_waiters(wait_key, prefix, task, ttl)
  return 1
end

--- script: create
-- KEYS: the run's seven keys. ARGV: ttl, then three newline-separated lists for one chunk of
-- nodes: "id\njson\n..." for the nodes hash, "id\ncount\n..." for the waiting hash and
-- "id\n..." for the done set. One string per list keeps the client from encoding thousands of
-- arguments (task ids and node JSON never contain a raw newline).
local function hset_lines(key, text)
  local batch = {}
  for line in string.gmatch(text, '[^\n]+') do
    batch[#batch + 1] = line
    if #batch == 1000 then
      redis.call('HSET', key, unpack(batch))
      batch = {}
    end
  end
  if #batch > 0 then
    redis.call('HSET', key, unpack(batch))
  end
end
hset_lines(KEYS[NODES], ARGV[2])
hset_lines(KEYS[WAITING], ARGV[3])
local batch = {}
for line in string.gmatch(ARGV[4], '[^\n]+') do
  batch[#batch + 1] = line
  if #batch == 1000 then
    redis.call('SADD', KEYS[DONE], unpack(batch))
    batch = {}
  end
end
if #batch > 0 then
  redis.call('SADD', KEYS[DONE], unpack(batch))
end
refresh_run(tonumber(ARGV[1]))
return 1

--- script: finish
-- KEYS: the run's seven keys, then P:claimwait:{task}. ARGV: task, prefix, ttl.
-- Returns the dependents that became ready (pushed to the outbox), empty on a repeat call, as
-- {id, node JSON, id, node JSON, ...}: the caller publishes them without reading them back.
return finish(ARGV[1], KEYS[8], ARGV[2], tonumber(ARGV[3]))

--- script: fail
-- KEYS: the run's seven keys. ARGV: task, error_type, error_message, attempt, ttl, prefix.
-- Returns 1 the first time the task fails for good in the run, else 0 (also when it is done).
-- The failure of the run's last active task closes the run (close_run).
local task, ttl = ARGV[1], tonumber(ARGV[5])
if redis.call('SISMEMBER', KEYS[DONE], task) == 1 then
  return 0
end
if redis.call('SADD', KEYS[FAILED], task) == 0 then
  return 0
end
redis.call('XADD', KEYS[EVENTS], '*', 'type', 'failed', 'task', task, 'attempt', ARGV[4],
  'error_type', ARGV[2], 'error_message', ARGV[3])
if is_live(KEYS[META]) and ARGV[6] then
  settle_active(ARGV[6], -1)
end
refresh_run(ttl)
return 1

--- script: event
-- KEYS: the run's seven keys. ARGV: ttl, then field, value, field, value, ...
-- Returns the stream entry id.
local fields = {}
for i = 2, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
local id = redis.call('XADD', KEYS[EVENTS], '*', unpack(fields))
if ARGV[3] == 'retry' then
  redis.call('HSET', KEYS[META], 'retried', '1')  -- SUCCESS_WITH_RETRY at the end
end
refresh_run(tonumber(ARGV[1]))
return id

--- script: started
-- KEYS: the run's seven keys, P:history. ARGV: task, attempt, celery id, ttl, history events
-- (newline-separated JSON, added under the field "e"). The start of an attempt the claim did
-- not record itself: a "started" run event and the history events, in one step.
redis.call('XADD', KEYS[EVENTS], '*', 'type', 'started', 'task', ARGV[1], 'attempt', ARGV[2],
  'celery_id', ARGV[3])
for payload in string.gmatch(ARGV[5], '[^\n]+') do
  redis.call('XADD', KEYS[8], '*', 'e', payload)
end
refresh_run(tonumber(ARGV[4]))
return 1

--- script: extend
-- KEYS: the run's seven keys. ARGV: parent, ttl, fragment JSON, prefix
--   {"nodes": [{"id", "deps", "head", "complete", "external"}], "direct": [ids]}
-- where "head" is the node JSON without its closing brace (the script adds "dependents").
-- Returns the ids pushed to the outbox: new nodes with nothing left to wait for, and the parent
-- itself if every requirement it yielded is done already.
local parent, ttl = ARGV[1], tonumber(ARGV[2])
local fragment = cjson.decode(ARGV[3])
if redis.call('HEXISTS', KEYS[NODES], parent) == 0 then
  return redis.error_reply('UNKNOWN_TASK ' .. parent)
end
if redis.call('SISMEMBER', KEYS[DONE], parent) == 1 then
  return {}  -- a stale copy of a parent that has finished since: nothing to wait for
end

local fresh, order = {}, {}
for _, n in ipairs(fragment['nodes']) do
  if fresh[n['id']] == nil and redis.call('HEXISTS', KEYS[NODES], n['id']) == 0 then
    n['deps'] = unique(n['deps'])
    fresh[n['id']] = n
    order[#order + 1] = n['id']
  end
end
local direct = unique(fragment['direct'])

-- Validate before writing anything: Redis does not roll a script back when it errors.
local function known(id)
  return fresh[id] ~= nil or redis.call('HEXISTS', KEYS[NODES], id) == 1
end
for _, id in ipairs(order) do
  for _, dep in ipairs(fresh[id]['deps']) do
    if not known(dep) then
      return redis.error_reply('UNKNOWN_REQUIREMENT ' .. id .. ' requires ' .. dep)
    end
  end
end
for _, dep in ipairs(direct) do
  if not known(dep) then
    return redis.error_reply('UNKNOWN_REQUIREMENT ' .. parent .. ' yielded ' .. dep)
  end
end

-- The new edges, grouped by requirement: these are the dependents each one must wake.
local added, reqs = {}, {}
local function edge(req, dependent)
  if added[req] == nil then
    added[req] = {}
    reqs[#reqs + 1] = req
  end
  added[req][#added[req] + 1] = dependent
end
for _, id in ipairs(order) do
  for _, dep in ipairs(fresh[id]['deps']) do
    edge(dep, id)
  end
end
for _, dep in ipairs(direct) do
  edge(dep, parent)
end

for _, id in ipairs(order) do
  local list = added[id] or {}
  redis.call('HSET', KEYS[NODES], id, fresh[id]['head'] .. ',"dependents":' .. json_list(list) .. '}')
  if fresh[id]['complete'] then
    redis.call('SADD', KEYS[DONE], id)
  end
end

-- Requirements already in the run (pending, running or done) learn their new dependents.
-- The stored JSON always ends with the "dependents" list, so appending is a suffix edit.
for _, req in ipairs(reqs) do
  if fresh[req] == nil then
    local raw = redis.call('HGET', KEYS[NODES], req)
    local have = {}
    for _, d in ipairs(cjson.decode(raw)['dependents'] or {}) do
      have[d] = true
    end
    local extra = {}
    for _, d in ipairs(added[req]) do
      if not have[d] then
        have[d] = true
        extra[#extra + 1] = cjson.encode(d)
      end
    end
    if #extra > 0 then
      if string.sub(raw, -2) ~= ']}' then
        return redis.error_reply('BAD_NODE_JSON ' .. req)
      end
      local body = string.sub(raw, 1, -3)
      local sep = ','
      if string.sub(body, -1) == '[' then
        sep = ''
      end
      redis.call('HSET', KEYS[NODES], req, body .. sep .. table.concat(extra, ',') .. ']}')
    end
  end
end

local function not_done(ids)
  local left = 0
  for _, dep in ipairs(ids) do
    if redis.call('SISMEMBER', KEYS[DONE], dep) == 0 then
      left = left + 1
    end
  end
  return left
end

local ready = {}
for _, id in ipairs(order) do
  local n = fresh[id]
  -- External tasks never run, so they get no count and are never pushed (as in RunState).
  if not n['complete'] and not n['external'] then
    local left = not_done(n['deps'])
    redis.call('HSET', KEYS[WAITING], id, left)
    if left == 0 then
      ready[#ready + 1] = id
    end
  end
end
local left = not_done(direct)
-- The parent counts as active while it has nothing to wait for; a repeated yield (a
-- redelivered parent) finds it waiting already and must not count it out twice.
local parent_active = tonumber(redis.call('HGET', KEYS[WAITING], parent) or '0') == 0
redis.call('HSET', KEYS[WAITING], parent, left)
if left == 0 then
  ready[#ready + 1] = parent
end
local live = is_live(KEYS[META])
if not live then
  ready = {}
end
push_all(KEYS[OUTBOX], ready)
redis.call('HINCRBY', KEYS[META], 'total', #order)
local missing = 0
for _, id in ipairs(order) do
  if fresh[id]['external'] and not fresh[id]['complete'] then
    missing = missing + 1
  end
end
if missing > 0 then
  redis.call('HINCRBY', KEYS[META], 'missing', missing)
end
redis.call('XADD', KEYS[EVENTS], '*', 'type', 'yielded', 'task', parent,
  'new', json_list(order), 'direct', json_list(direct))
if live and ARGV[4] then
  -- The parent leaves the active tasks (it is in `ready` again if it has nothing to wait for).
  local delta = #ready
  if parent_active then
    delta = delta - 1
  end
  settle_active(ARGV[4], delta)
end
refresh_run(ttl)
return ready

--- script: claim
-- KEYS: the run's seven keys, P:claim:{task}, P:fence:{task}, P:claimwait:{task}, P:claims,
--   P:starts:{task}, P:run:{rid}:attempts, P:history.
-- ARGV: run id, task, lease_ms, ttl, prefix, max starts (0: no cap), demand (semaphore.lua),
--   priority, celery id, the history events of a first start (newline-separated JSON, or '').
-- Returns {"done"} | {"cancelled"} | {"busy", holder} | {"lost", starts} | {"queued"} |
-- {"ok", token, attempt, started}. "attempt" numbers the attempts of the task in the run.
-- "lost": the task was started that many times without ever settling (it kills its worker);
-- "queued": its semaphores are full, it waits in line for a release. "started" is "1" when the
-- claim recorded the start itself (see the end of the script), else "0".
local rid, task, lease, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local prefix, max_starts = ARGV[5], tonumber(ARGV[6])
if redis.call('SISMEMBER', KEYS[DONE], task) == 1 then
  return {'done'}
end
if not is_live(KEYS[META]) then
  return {'cancelled'}
end
local holder = redis.call('GET', KEYS[8])
if holder then
  -- Park this run once; the holder's release (or finish) puts the task back in our outbox.
  if not redis.call('LPOS', KEYS[10], rid) then
    redis.call('RPUSH', KEYS[10], rid)
  end
  redis.call('EXPIRE', KEYS[10], ttl)
  return {'busy', holder}
end
local starts = tonumber(redis.call('GET', KEYS[12]) or '0')
if max_starts > 0 and starts >= max_starts then
  redis.call('DEL', KEYS[12])
  return {'lost', tostring(starts)}
end
local now = now_ms()
local demand = parse_demand(ARGV[7])
if #demand > 0 then
  resolve_capacities(demand, KEYS[META])
  if not sem_acquire(prefix, demand, rid .. '|' .. task, tonumber(ARGV[8]), now, lease, ttl) then
    return {'queued'}
  end
end
redis.call('INCR', KEYS[12])
redis.call('EXPIRE', KEYS[12], ttl)
local token = redis.call('INCR', KEYS[9])
redis.call('EXPIRE', KEYS[9], ttl)
redis.call('SET', KEYS[8], rid .. '|' .. token, 'PX', lease)
redis.call('ZADD', KEYS[11], now + lease, rid .. '|' .. task)
redis.call('EXPIRE', KEYS[11], ttl)
local attempt = redis.call('HINCRBY', KEYS[13], task, 1)
redis.call('EXPIRE', KEYS[13], ttl)
-- The first claim ever of the task id, for the first attempt: nobody ran it, so it cannot have
-- become complete since the caller checked, and its start is recorded here (the "started" run
-- event and the history events given, which describe attempt 1). Otherwise the caller checks
-- complete() again under the claim and records the start itself.
local started = '0'
if ARGV[10] ~= '' and token == 1 and attempt == 1 then
  redis.call('XADD', KEYS[EVENTS], '*', 'type', 'started', 'task', task, 'attempt', '1',
    'celery_id', ARGV[9])
  for payload in string.gmatch(ARGV[10], '[^\n]+') do
    redis.call('XADD', KEYS[14], '*', 'e', payload)
  end
  -- The stream may have been created just now; the settle refreshes every key of the run.
  redis.call('EXPIRE', KEYS[EVENTS], ttl)
  started = '1'
end
return {'ok', tostring(token), tostring(attempt), started}

--- script: renew
-- KEYS: P:claim:{task}, P:claims. ARGV: token, lease_ms, prefix, task, holder, semaphore names
--   (one per line), ttl.
-- Returns 1 if the token still holds the claim and every slot, 2 if it holds the claim but a
-- slot's lease ran out (and was given to someone else), 0 if the claim was lost.
if not holds(redis.call('GET', KEYS[1]), ARGV[1]) then
  return 0
end
local lease = tonumber(ARGV[2])
local expiry = now_ms() + lease
redis.call('PEXPIRE', KEYS[1], lease)
redis.call('ZADD', KEYS[2], expiry, ARGV[5])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[7]))
local kept = 1
for _, name in ipairs(split_lines(ARGV[6])) do
  local holders = sem_key(ARGV[3], name, 'holders')
  if redis.call('ZSCORE', holders, ARGV[5]) then
    redis.call('ZADD', holders, expiry, ARGV[5])
  else
    kept = 2
  end
end
return kept

--- script: release
-- KEYS: P:claim:{task}, P:claimwait:{task}, P:claims, P:starts:{task}.
-- ARGV: token, prefix, task, ttl, holder, semaphore names (one per line), lease_ms, "1" to keep
--   the count of unsettled starts (an interrupted attempt: it counts towards "lost").
-- Returns 1 if the token held the claim (it is gone now, its slots went to the next waiters
-- and the runs parked on the claim have the task back), else 0 and nothing changes.
return release(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]),
  ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8] == '1')

--- script: settle
-- The end of an attempt in one atomic step: its history events, finish (when done), release,
-- and a take of what releases handed over.
-- KEYS: the run's seven keys, P:claimwait:{task}, P:claim:{task}, P:claims, P:starts:{task},
--   P:history, P:woken.
-- ARGV: task, prefix, ttl, token, holder, semaphore names (one per line), lease_ms, done ("1"),
--   requeue ("1": an interrupted attempt, put back in the outbox, its start still counted),
--   history events (newline-separated JSON, added under the field "e" as the history sink
--   does), most entries to take from P:woken.
-- Returns {finish's reply, the P:woken entries taken}.
local task, prefix, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
for payload in string.gmatch(ARGV[10], '[^\n]+') do
  redis.call('XADD', KEYS[12], '*', 'e', payload)
end
local requeue = ARGV[9] == '1'
if requeue then
  redis.call('RPUSH', KEYS[OUTBOX], task)
end
local ready = {}
if ARGV[8] == '1' then
  ready = finish(task, KEYS[8], prefix, ttl)
end
release(KEYS[9], KEYS[8], KEYS[10], KEYS[11], ARGV[4], prefix, task, ttl, ARGV[5], ARGV[6],
  tonumber(ARGV[7]), requeue)
if ready['err'] then
  return ready  -- the task is not in the run (it expired): released, nothing else to do
end
local woken = redis.call('LPOP', KEYS[13], tonumber(ARGV[11]))
return {ready, woken or {}}

--- script: cancel
-- KEYS: the run's seven keys. ARGV: prefix, ttl, reason.
-- Returns 1 if the run was RUNNING and is CANCELLED now: its end is in the history stream and a
-- "cancelled" event (empty task) wakes the submitter, which waits for running tasks to end.
if not close_run(ARGV[1], 'CANCELLED', ARGV[3], 'cancelled') then
  return 0
end
refresh_run(tonumber(ARGV[2]))
return 1

--- script: close
-- KEYS: the run's seven keys. ARGV: prefix, ttl, reason, status ('' to work it out), "1" to
-- close only when no task is active.
-- Returns the final status, or '' if the run was not RUNNING (or still has active tasks).
if ARGV[5] == '1' and tonumber(redis.call('HGET', KEYS[META], 'active') or '0') > 0 then
  return ''
end
local status = ARGV[4]
if status == '' then
  status = nil
end
local closed = close_run(ARGV[1], status, ARGV[3], 'closed')
if not closed then
  return ''
end
refresh_run(tonumber(ARGV[2]))
return closed
