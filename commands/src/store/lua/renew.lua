-- renew: a waiting CI request checks in. It learns whether the lock is now its own (taking it, if
-- it was offered), and renews the lease on its queue entry, so that a request that is still
-- waiting keeps its place and one that went away is never handed the lock. The entry and the
-- lock are this attempt's only under its token: a retry with the same key that took them over
-- (lock.lua) leaves this attempt `superseded`.
-- ARGV[5] holder  [6] lease ms  [7] this attempt's token
local e = ENVS[1]
local holder, lease, token = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local lock, claim, freeze = settle(e)
if lock and lock.holder == holder then
  if lock.token ~= token then return cjson.encode({ status = 'superseded', now = NOW }) end
  offer_take(e, lock)
  return cjson.encode({ status = 'granted', now = NOW, lock = view(lock), token = lock.token })
end
-- Only this waiter's own entry is read and rescored: the cost does not grow with the line.
local w = e.qlen ~= 0 and waiter_get(e, holder)
if w then
  if w.token ~= token then return cjson.encode({ status = 'superseded', now = NOW }) end
  redis.call('ZADD', e.gone, int(gone_at(w, NOW + lease)), holder)
  return cjson.encode({ status = 'waiting', now = NOW })
end
return cjson.encode({ status = 'gone', now = NOW })
