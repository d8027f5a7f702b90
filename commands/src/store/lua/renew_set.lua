-- renew_set: a request waiting for several envs together checks in (renew.lua, for a set). It
-- learns whether the set is now its own (taking the offers), and renews its lease in every line
-- it waits in. A waiter that lost its place in any line (its lease ran out) has lost it in all of
-- them: it leaves the rest and hears `gone`, so it lines up again, never holding half a place.
-- ARGV[5] holder  [6] lease ms  [7] this attempt's token
local holder, lease, token = ARGV[5], tonumber(ARGV[6]), ARGV[7]
local held = set_held(holder, token, 'granted')
if held then return held end
local places = 0
local entries = {}
for i, e in ipairs(ENVS) do
  local w = queue_len(e) > 0 and waiter_get(e, holder)
  if w then
    if w.token ~= token then return cjson.encode({ status = 'superseded', now = NOW }) end
    entries[i] = w
    places = places + 1
  end
end
if places == #ENVS then
  for _, e in ipairs(ENVS) do
    redis.call('ZADD', e.gone, int(gone_at(entries[1], NOW + lease)), holder)
  end
  return cjson.encode({ status = 'waiting', now = NOW })
end
for i, e in ipairs(ENVS) do
  if entries[i] then
    queue_remove(e, holder)
    record(e, { kind = 'left_queue', holder = holder, display = entries[i].display,
                reason = 'waiter went away' })
    settle(e)
  end
end
return cjson.encode({ status = 'gone', now = NOW })
