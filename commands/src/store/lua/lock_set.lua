-- lock_set: take several envs' deploy locks together, all of them or none, in one atomic step.
-- Each env keeps its own fence, hold and audit entry; the entries name the set (`set`), and all
-- carry the same time, so the notifier announces the set as one message per channel.
-- ARGV[5] holder  [6] display  [7] reason  [8] ttl ms  [9] token  [10] '1' if admin
--
-- A refusal names every env that stands in the way, and why (`locked`: its hold and line;
-- `frozen`: its freeze; `mine`: the caller holds it already, alone), and takes nothing. A set does
-- not wait in line: `queue` takes one env at a time.
local holder, display, reason, ttl, token = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local admin = ARGV[10] == '1'
local names, seen, blocked = {}, {}, {}
for i, e in ipairs(ENVS) do
  names[i] = e.name
  local lock, claim, freeze = settle(e)
  seen[i] = { lock = lock, claim = claim, freeze = freeze }
  if lock and lock.holder == holder then
    blocked[#blocked + 1] = { env = e.name, why = 'mine', lock = view(lock) }
  elseif lock then
    blocked[#blocked + 1] = { env = e.name, why = 'locked', lock = view(lock),
                              queued = digits(queue_len(e)) }
  elseif freeze and not admin then
    blocked[#blocked + 1] = { env = e.name, why = 'frozen', freeze = freeze }
  end
end
if #blocked > 0 then
  return cjson.encode({ status = 'blocked', now = digits(NOW), blocked = blocked })
end
local set = table.concat(names, ',')
local locks = {}
for i, e in ipairs(ENVS) do
  local s = seen[i]
  local m = hold_grant(e, 'lock', holder, display, reason, ttl, token)
  record(e, { kind = 'locked', holder = holder, display = display, reason = reason,
              fence = m.fence, expires = m.expires, over_freeze = s.freeze and 1 or nil,
              window = s.freeze and s.freeze.window or nil, set = set })
  locks[i] = { env = e.name, lock = view(m), claim = view(s.claim), freeze = s.freeze }
end
return cjson.encode({ status = 'ok', now = digits(NOW), token = token, locks = locks })
