-- due: the deadline entries of one group that are due by Redis' clock (KEYS[1]: deadlines zset).
-- A read (no `begin`): `/readyz` runs it to prove the ACL user may call Baton's functions on its
-- keys, and that Redis would take a write now: it is registered as a `probe`, not declared
-- `no-writes`, so a Redis at `maxmemory` refuses it ("full") as it refuses every change.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return cjson.encode({ status = 'ok', now = now,
  due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 100) })
