-- extend_set: push back the end of the caller's locks on several envs together, all or none:
-- each must be the caller's (by identity, or under the set's token), and none may then run past
-- the set's maximum from now. Each env gets its own audit entry, all at one time.
-- ARGV[5] actor  [6] token ('' to match by holder)  [7] extension ms  [8] max ms from now
local actor, token = ARGV[5], ARGV[6]
local by, max = tonumber(ARGV[7]), tonumber(ARGV[8])
local seen, problems = {}, {}
for i, e in ipairs(ENVS) do
  local lock = settle(e)
  seen[i] = lock
  if not lock then
    problems[#problems + 1] = { env = e.name, why = 'not_held' }
  elseif not holds(lock, actor, token) then
    problems[#problems + 1] = { env = e.name, why = 'not_holder', lock = view(lock) }
  else
    local expires = math.max(tonumber(lock.expires), NOW) + by
    if expires - NOW > max then
      problems[#problems + 1] = { env = e.name, why = 'too_long', lock = view(lock),
        room = math.max(0, max - (tonumber(lock.expires) - NOW)) }
    end
  end
end
if #problems > 0 then
  return cjson.encode({ status = 'refused', now = digits(NOW), problems = problems })
end
local extended = {}
for i, e in ipairs(ENVS) do
  local lock = seen[i]
  local expires = math.max(tonumber(lock.expires), NOW) + by
  hold_move(e, 'lock', lock, expires)
  record(e, { kind = 'lock_extended', actor = actor, holder = lock.holder,
              display = lock.display, expires = expires, by = by })
  extended[i] = { env = e.name, lock = view(lock) }
end
return cjson.encode({ status = 'ok', now = digits(NOW), extended = extended })
