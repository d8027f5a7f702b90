-- lock / queue: take the env's deploy lock, or (queue) wait for it in FIFO order.
-- ARGV[4] holder  [5] display  [6] reason  [7] ttl ms  [8] token  [9] '1' if admin
-- ARGV[10] 'lock', 'queue', or 'wait' (a queue entry that refuses a frozen env, for CI)  [11] queue limit  [12] wait ms for a queue entry (0: the default)
local e = ENVS[1]
local holder, display, reason, ttl, token = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), ARGV[8]
local admin, mode, limit, wait = ARGV[9] == '1', ARGV[10], tonumber(ARGV[11]), tonumber(ARGV[12])
local lock, claim, freeze = settle(e)
local function answer(status, extra)
  local r = { status = status, now = NOW, lock = view(lock), claim = view(claim), freeze = freeze }
  for k, v in pairs(extra or {}) do r[k] = v end
  return cjson.encode(r)
end

if lock and lock.holder == holder then return answer('already') end
local entries = queue_entries(e)
for i, w in ipairs(entries) do
  if w.holder == holder then return answer('already_queued', { position = i }) end
end

local free = not lock and (not freeze or admin)
if free and (mode == 'lock' or #entries == 0) then
  lock = hold_grant(e, 'lock', holder, display, reason, ttl, token)
  record(e, { kind = 'locked', holder = holder, display = display, reason = reason,
              fence = lock.fence, expires = lock.expires, over_freeze = freeze and 1 or 0 })
  return answer('ok', { fence = lock.fence })
end
if mode == 'lock' then
  if lock then return answer('locked', { queue = queue_view(e) }) end
  return answer('frozen')
end

if mode == 'wait' and freeze and not admin then return answer('frozen') end
if #entries >= limit then return answer('queue_full', { limit = limit }) end
if wait <= 0 then wait = WAIT_DEFAULT end
redis.call('RPUSH', e.queue, cjson.encode({ holder = holder, display = display, reason = reason,
  ttl = ttl, token = token, at = NOW, ['until'] = NOW + wait }))
if redis.call('PTTL', e.queue) < wait + GRACE then redis.call('PEXPIRE', e.queue, wait + GRACE) end
record(e, { kind = 'queued', holder = holder, display = display, reason = reason, position = #entries + 1 })
return answer('queued', { position = #entries + 1 })
