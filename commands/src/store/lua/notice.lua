-- notice: the calendar's notice before a window starts, recorded once per env and occurrence
-- however many instances ask (the mark and the record are one step). A skipped occurrence gets
-- none. The holders whose lock or claim runs into the window are named, so the notifier can
-- tell them.
-- ARGV[5] window  [6] start ms  [7] end ms  [8] reason
local name, start, stop, reason = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]
local out = {}
for i, e in ipairs(ENVS) do
  local given = false
  if redis.call('HEXISTS', e.marks, 'skip:' .. name .. '@' .. start) == 0
      and redis.call('HSETNX', e.marks, 'notice:' .. name .. '@' .. start, NOW) == 1 then
    marks_keep(e, stop)
    local lock, claim = settle(e)
    local ev = { kind = 'window_notice', window = name, starts = start, ends = stop, reason = reason }
    if lock and tonumber(lock.expires) > start then
      ev.holder, ev.display, ev.expires = lock.holder, lock.display, lock.expires
    end
    if claim and tonumber(claim.expires) > start then
      ev.claim_holder, ev.claim_display = claim.holder, claim.display
      ev.claim_expires = claim.expires
    end
    record(e, ev)
    given = true
  end
  out[i] = { env = e.name, given = given }
end
return cjson.encode({ status = 'ok', now = NOW, envs = out })
