-- give_up_set: a request waiting for several envs together ran out of time (give_up.lua, for a
-- set). If the set is its own by now it takes it; otherwise it leaves every line, and takes the
-- set if all of it is free after all, else hears every env that stands in the way.
-- ARGV[5] holder  [6] display  [7] reason  [8] ttl ms  [9] token
local holder, display, reason, ttl, token = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local held = set_held(holder, token, 'ok')
if held then return held end
local names = {}
for i, e in ipairs(ENVS) do names[i] = e.name end
local set = table.concat(names, ',')
for _, e in ipairs(ENVS) do
  local w = queue_len(e) > 0 and waiter_get(e, holder)
  if w and w.set == set then
    if w.token ~= token then return cjson.encode({ status = 'superseded', now = NOW }) end
    queue_remove(e, holder)
    redis.call('ZREM', e.deadlines, 'set:' .. e.name)
    record(e, { kind = 'left_queue', holder = holder, display = w.display,
                reason = 'wait ran out', set = set })
  end
end
local blocked, seen = {}, {}
for i, e in ipairs(ENVS) do
  local lock, claim, freeze = settle(e)
  seen[i] = { claim = claim }
  if lock then
    blocked[#blocked + 1] = { env = e.name, why = 'locked', lock = view(lock),
                              queued = digits(queue_len(e)) }
  elseif freeze then
    blocked[#blocked + 1] = { env = e.name, why = 'frozen', freeze = freeze }
  elseif queue_len(e) > 0 then
    local kept = kept_for(e)
    blocked[#blocked + 1] = { env = e.name, why = 'reserved', first = kept.first,
                              set = kept.set, queued = digits(queue_len(e)) }
  end
end
if #blocked > 0 then
  return cjson.encode({ status = 'blocked', now = digits(NOW), blocked = blocked })
end
local out = {}
for i, e in ipairs(ENVS) do
  local m = hold_grant(e, 'lock', holder, display, reason, ttl, token)
  record(e, { kind = 'locked', holder = holder, display = display, reason = reason,
              fence = m.fence, expires = m.expires, set = set })
  out[i] = { env = e.name, lock = view(m), claim = view(seen[i].claim) }
end
return cjson.encode({ status = 'ok', now = digits(NOW), token = token, locks = out })
