-- renew: a waiting CI request checks in. It learns whether the lock is now its own, and renews
-- the lease on its queue entry, so that a request that is still waiting keeps its place and one
-- that went away is never handed the lock.
-- ARGV[5] holder  [6] lease ms
local e = ENVS[1]
local holder, lease = ARGV[5], tonumber(ARGV[6])
local lock, claim, freeze = settle(e)
if lock and lock.holder == holder then
  return cjson.encode({ status = 'granted', now = NOW, lock = view(lock), token = lock.token })
end
for i, w in ipairs(queue_entries(e)) do
  if w.holder == holder then
    w.raw = nil
    w.lease = NOW + lease
    redis.call('LSET', e.queue, i - 1, cjson.encode(w))
    return cjson.encode({ status = 'waiting', now = NOW, position = i })
  end
end
return cjson.encode({ status = 'gone', now = NOW })
