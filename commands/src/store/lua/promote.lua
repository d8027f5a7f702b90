-- promote: an admin lets a waiter have the deploy lock now (approving a waiting GitHub run): its
-- entry leaves the line and it is granted the lock with its own TTL, reason and token, over a
-- freeze if one is on, recorded with the admin's name. Refused while someone else holds the lock.
-- ARGV[5] the waiter's holder  [6] actor  [7] actor's display
local e = ENVS[1]
local holder, actor, actor_display = ARGV[5], ARGV[6], ARGV[7]
local lock, _, freeze = settle(e)
local w = e.qlen ~= 0 and waiter_get(e, holder)
if w then
  if lock then
    return cjson.encode({ status = 'locked', now = NOW, lock = view(lock) })
  end
  queue_remove(e, holder)
  lock = hold_grant(e, 'lock', holder, w.display, w.reason, w.ttl, w.token)
  record(e, { kind = 'locked', holder = holder, display = w.display, reason = w.reason,
              fence = lock.fence, expires = lock.expires, over_freeze = freeze and 1 or nil,
              window = freeze and freeze.window or nil, actor = actor,
              actor_display = actor_display, approved = 1 })
  return cjson.encode({ status = 'ok', now = NOW, lock = view(lock) })
end
if lock and lock.holder == holder then
  return cjson.encode({ status = 'already', now = NOW, lock = view(lock) })
end
return cjson.encode({ status = 'not_queued', now = NOW })
