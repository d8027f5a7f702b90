-- window: an admin skips an occurrence of a scheduled freeze window (`freeze skip`). The one
-- skipped is the first of the candidates given (the one on now, then those ahead, in start order)
-- that is not over and not skipped already on every env named in ARGV[1] (one group): skipping
-- again skips the next one. On each env where it was not yet, it is marked skipped (ending it
-- early when it is on) and recorded once, and a queue only that window held moves on in the same
-- step. None left (all skipped already): nothing is written, and the answer names no occurrence.
-- ARGV[5] window  [6] the candidates: `<start ms>:<end ms>`, comma-separated, in start order
-- [7] actor  [8] display  [9] reason
local name, actor, display, reason = ARGV[5], ARGV[7], ARGV[8], ARGV[9]
local start, stop
for s, t in string.gmatch(ARGV[6], '(%d+):(%d+)') do
  s, t = tonumber(s), tonumber(t)
  if t > NOW then
    local field = 'skip:' .. name .. '@' .. s
    for _, e in ipairs(ENVS) do
      if redis.call('HEXISTS', e.marks, field) == 0 then
        start, stop = s, t
        break
      end
    end
  end
  if start then break end
end
local mark = cjson.encode({ by = actor, display = display, reason = reason, at = NOW })
local out = {}
for i, e in ipairs(ENVS) do
  -- The lock's fence before: a lock after the skip under another fence was handed on by it.
  local before = redis.call('HGET', e.lockmeta, 'fence')
  local fresh = start ~= nil
      and redis.call('HSETNX', e.marks, 'skip:' .. name .. '@' .. start, mark) == 1
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
return cjson.encode({ status = 'ok', now = NOW, starts = start, ends = stop, envs = out })
