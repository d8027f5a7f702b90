-- give_up: a waiting CI request's wait ran out. If the lock is its own by now, or free, it takes
-- it; otherwise it leaves the queue and learns who holds the env (or that it is frozen).
-- ARGV[5] holder  [6] display  [7] reason  [8] ttl ms  [9] token
local e = ENVS[1]
local holder, display, reason, ttl, token = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local lock, claim, freeze = settle(e)
if lock and lock.holder == holder then
  -- Under another token, a retry with the same key took this request's place (lock.lua).
  if lock.token ~= token then return cjson.encode({ status = 'superseded', now = NOW }) end
  offer_take(e, lock)
  return cjson.encode({ status = 'ok', now = NOW, lock = view(lock), token = lock.token })
end
local w = e.qlen ~= 0 and waiter_get(e, holder)
if w then
  if w.token ~= token then return cjson.encode({ status = 'superseded', now = NOW }) end
  queue_remove(e, holder)
  record(e, { kind = 'left_queue', holder = holder, display = w.display, reason = 'wait ran out' })
end
if lock then
  return cjson.encode({ status = 'locked', now = NOW, lock = view(lock), queued = queue_len(e) })
end
if freeze then return cjson.encode({ status = 'frozen', now = NOW, freeze = freeze }) end
-- Free but kept for the set waiter first in line: nobody behind it takes it, a wait that ran
-- out neither.
if queue_len(e) > 0 then
  local r = kept_for(e)
  r.status, r.now = 'reserved', NOW
  return cjson.encode(r)
end
-- Free and nobody in line: the wait ends with the lock.
lock = hold_grant(e, 'lock', holder, display, reason, ttl, token)
record(e, { kind = 'locked', holder = holder, display = display, reason = reason,
            fence = lock.fence, expires = lock.expires })
return cjson.encode({ status = 'ok', now = NOW, lock = view(lock), token = token })
