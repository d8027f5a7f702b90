-- lock / queue: take the env's deploy lock, or (queue) wait for it in FIFO order.
-- ARGV[5] holder  [6] display  [7] reason  [8] ttl ms  [9] token  [10] '1' if admin
-- ARGV[11] 'lock', 'queue', or 'wait' (a queue entry that refuses a frozen env, for CI)  [12] queue limit  [13] wait ms for a queue entry (0: the default)
--          (a plain `lock` that records no refusal sends none of [12] to [15]: they are for the line)
-- ARGV[14] lease ms of a `wait` entry (0: none): the waiting request renews it (renew.lua); a
--          lock handed to it is an offer for that long until the request takes it
-- ARGV[15] '1': a refusal (frozen, a full line) is recorded too (`refused`), for a caller that
--          hears its outcome from the audit stream (a GitHub run)
-- ARGV[16] a GitHub run's deployment id (absent for everyone else)  [17] when GitHub created it
--          (Unix ms)  [18] the oldest a deployment may be and still ask, in ms (GitHub waits 30
--          days at most). step_key(1) is then the env's GitHub ledger: the deployments that asked,
--          scored by when. Each deployment is let in once: a request replayed after its run
--          finished, was released or rejected answers `over`, one older than that `stale`, and
--          neither writes anything.
local e = ENVS[1]
-- (The numbers are read where they are used: a refusal reads none of them.)
local holder, display, reason, token = ARGV[5], ARGV[6], ARGV[7], ARGV[9]
local admin, mode = ARGV[10] == '1', ARGV[11]
local record_refusal = ARGV[15] == '1'
local lock, claim, freeze = settle(e)
local function answer(status, r)
  r = r or {}
  r.status, r.now, r.lock, r.claim, r.freeze = status, digits(NOW), view(lock), view(claim), freeze
  return cjson.encode(r)
end

-- The holder's own lock. A CI holder is a digest of its token, key and request, so this is the
-- same request again (a retry): the lock becomes this attempt's, under this attempt's token, so
-- an earlier attempt's clean-up can never give it back; an offer (`hand_off`) is taken.
if lock and lock.holder == holder then
  offer_take(e, lock)
  if lock.token ~= token then
    redis.call('HSET', e.lockmeta, 'token', token)
    lock.token = token
  end
  return answer('already', { token = token })
end
-- The same request waits in line already (a retry whose first attempt lost its connection):
-- this attempt takes over its place, token and lease.
local position = e.qlen ~= 0 and queue_position(e, holder)
if position then
  local lease = tonumber(ARGV[14] or '0')
  if lease > 0 then
    local w = waiter_get(e, holder)
    if w and w.span then
      w.token = token
      redis.call('HSET', e.waiters, holder, cjson.encode(w))
      redis.call('ZADD', e.gone, int(gone_at(w, NOW + lease)), holder)
    end
  end
  return answer('already_queued', { position = position })
end

local deployment = ARGV[16]
if deployment then
  local ledger, max_age = step_key(1), tonumber(ARGV[18])
  if redis.call('ZSCORE', ledger, deployment) then return answer('over') end
  if tonumber(ARGV[17]) + max_age < NOW then return answer('stale') end
  -- Kept a day past the oldest a deployment may ask: every mark outlives its replays.
  redis.call('ZREMRANGEBYSCORE', ledger, '-inf', int(NOW - max_age - GRACE))
  redis.call('ZADD', ledger, int(NOW), deployment)
  redis.call('PEXPIRE', ledger, int(max_age + GRACE))
end

local free = not lock and (not freeze or admin)
-- Free, unfrozen and someone still in line: the env is kept for the set waiter at its head
-- (`set_turn`), and nobody who is not ahead of it takes it.
local reserved = not lock and not freeze and queue_len(e) > 0
if free and not reserved and (mode == 'lock' or queue_len(e) == 0) then
  lock = hold_grant(e, 'lock', holder, display, reason, tonumber(ARGV[8]), token)
  record(e, { kind = 'locked', holder = holder, display = display, reason = reason,
              fence = lock.fence, expires = lock.expires, over_freeze = freeze and 1 or nil,
              window = freeze and freeze.window or nil })
  -- The grant, the other hot answer, written directly too when there is no claim or freeze
  -- to tell (prelude's `view_json`; cjson's walk of the nested answer costs a microsecond).
  if not claim and not freeze then
    return '{"status":"ok","now":' .. digits(NOW) .. ',"token":' .. cjson.encode(token)
      .. ',"lock":' .. view_json(lock) .. '}'
  end
  return answer('ok', { token = token })
end
if mode == 'lock' then
  if reserved then
    local r = kept_for(e)
    r.queued = queue_len(e)
    return answer('reserved', r)
  end
  if not lock then return answer('frozen') end
  -- The refusal, the hottest answer there is: written directly (prelude's `view_json`).
  local also = ''
  if claim then also = ',"claim":' .. view_json(claim) end
  if freeze then also = also .. ',"freeze":' .. cjson.encode(freeze) end
  return '{"status":"locked","now":' .. digits(NOW) .. ',"queued":' .. digits(queue_len(e))
    .. ',"lock":' .. view_json(lock) .. also .. '}'
end

local function refused(why, extra)
  if record_refusal then
    local ev = { kind = 'refused', holder = holder, display = display, reason = why }
    if freeze then ev.frozen_until, ev.freeze_reason = freeze['until'], freeze.reason end
    record(e, ev)
  end
  return answer(why, extra)
end
if mode == 'wait' and freeze and not admin then return refused('frozen') end
local ttl, limit, wait = tonumber(ARGV[8]), tonumber(ARGV[12]), tonumber(ARGV[13])
local lease = tonumber(ARGV[14])
local waiting = queue_len(e)
if waiting >= limit then return refused('queue_full', { limit = limit }) end
if wait <= 0 then wait = WAIT_DEFAULT end
local entry = { holder = holder, display = display, reason = reason, ttl = ttl, token = token,
  at = NOW, ['until'] = NOW + wait }
-- A leased entry (a waiting CI request) stays while its request renews it; its wait limit is the
-- request's, which gives up itself (`give_up`), so the line never drops it first.
local lease_until = nil
if lease > 0 then
  entry.span, entry['until'], lease_until = lease, NOW + wait + lease, NOW + lease
end
queue_push(e, entry, lease_until)
record(e, { kind = 'queued', holder = holder, display = display, reason = reason,
            position = waiting + 1, behind = lock and lock.display or nil })
return answer('queued', { position = waiting + 1 })
