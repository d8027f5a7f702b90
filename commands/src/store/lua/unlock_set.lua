-- unlock_set: release several envs' deploy locks together, all of them or none: each must be
-- the caller's. Each released env goes to its own next waiter (unless frozen), with its own
-- audit entry, all at one time (one announcement per channel).
-- ARGV[5] actor  [6] display  [7] token ('' to match by holder)
local actor, display, token = ARGV[5], ARGV[6], ARGV[7]
local seen, problems = {}, {}
for i, e in ipairs(ENVS) do
  local lock, _, freeze = settle(e)
  seen[i] = { lock = lock, freeze = freeze }
  if not lock then
    problems[#problems + 1] = { env = e.name, why = 'not_held' }
  elseif not holds(lock, actor, token) then
    problems[#problems + 1] = { env = e.name, why = 'not_holder', lock = view(lock) }
  end
end
if #problems > 0 then
  return cjson.encode({ status = 'refused', now = digits(NOW), problems = problems })
end
local released = {}
for i, e in ipairs(ENVS) do
  local s = seen[i]
  hold_drop(e, 'lock')
  record(e, { kind = 'unlocked', actor = actor, actor_display = display, holder = s.lock.holder,
              display = s.lock.display, reason = s.lock.reason, fence = s.lock.fence })
  if not s.freeze then hand_off(e) end
  released[i] = { env = e.name, held = view(s.lock) }
end
-- Who holds each env next, read once every env is back: a set waiter is handed its whole set
-- only when the last of them comes free.
for i, e in ipairs(ENVS) do released[i].next = view(hold_read(e.lockmeta)) end
return cjson.encode({ status = 'ok', now = digits(NOW), released = released })
