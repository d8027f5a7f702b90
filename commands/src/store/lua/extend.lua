-- extend: push back the end of the caller's lock (or, failing that, claim) on the env.
-- ARGV[5] kind ('lock' | 'claim' | 'any')  [6] actor  [7] token ('' to match by holder)
-- ARGV[8] extension ms  [9] max ms from now (lock)  [10] max ms from now (claim)
local e = ENVS[1]
local kind, actor, token = ARGV[5], ARGV[6], ARGV[7]
local by, max_lock, max_claim = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local lock, claim = settle(e)

local target, tkind, max = nil, nil, nil
if (kind == 'lock' or kind == 'any') and lock and holds(lock, actor, token) then
  target, tkind, max = lock, 'lock', max_lock
elseif (kind == 'claim' or kind == 'any') and claim and holds(claim, actor, token) then
  target, tkind, max = claim, 'claim', max_claim
end
if not target then
  local held = nil
  if kind ~= 'claim' then held = lock end
  if not held and kind ~= 'lock' then held = claim end
  local status = held and 'not_holder' or 'not_held'
  local hkind = (held and held == claim) and 'claim' or 'lock'
  if not held and kind == 'claim' then hkind = 'claim' end
  return cjson.encode({ status = status, now = NOW, kind = hkind, held = view(held) })
end

local expires = math.max(tonumber(target.expires), NOW) + by
if expires - NOW > max then
  return cjson.encode({ status = 'too_long', now = NOW, kind = tkind, held = view(target),
                        max = max, room = math.max(0, max - (tonumber(target.expires) - NOW)) })
end
hold_move(e, tkind, target, expires)
local extended = 'claim_extended'
if tkind == 'lock' then extended = 'lock_extended' end
record(e, { kind = extended, actor = actor, holder = target.holder,
            display = target.display, expires = expires, by = by })
return cjson.encode({ status = 'ok', now = NOW, kind = tkind, held = view(target) })
