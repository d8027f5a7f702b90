-- window: an admin skips an occurrence of a scheduled freeze window (`freeze skip`), or ends the
-- one that is on early: on every env named in ARGV[1] (one group) the occurrence is marked
-- skipped and recorded once, and a queue only that window held moves on in the same step.
-- ARGV[5] window  [6] occurrence start ms  [7] its end ms  [8] actor  [9] display  [10] reason
local name, start, stop = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local actor, display, reason = ARGV[8], ARGV[9], ARGV[10]
local field = 'skip:' .. name .. '@' .. start
local mark = cjson.encode({ by = actor, display = display, reason = reason, at = NOW })
local out = {}
for i, e in ipairs(ENVS) do
  -- The lock's fence before: a lock after the skip under another fence was handed on by it.
  local before = redis.call('HGET', e.lockmeta, 'fence')
  local fresh = redis.call('HSETNX', e.marks, field, mark) == 1
  if fresh then
    marks_keep(e, stop)
    record(e, { kind = 'window_skipped', window = name, starts = start, ends = stop, actor = actor,
                actor_display = display, reason = reason,
                early = (start <= NOW and NOW < stop) and 1 or 0 })
  end
  local lock = settle(e)
  local handed = lock ~= nil and tostring(lock.fence) ~= tostring(before)
  out[i] = { env = e.name, changed = fresh, lock = view(lock), handed = handed }
end
return cjson.encode({ status = 'ok', now = NOW, envs = out })
