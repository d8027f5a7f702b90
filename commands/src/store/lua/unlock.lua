-- unlock / release: end a deploy lock or a staging claim; a released lock goes to the next waiter.
-- ARGV[5] kind ('lock' | 'claim')  [6] actor  [7] display  [8] token ('' to match by holder)
-- ARGV[9] '1' to force (admins; the holder is named in the audit entry)
local e = ENVS[1]
local kind, actor, display, token, force = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9] == '1'
local lock, claim, freeze = settle(e)
local held = lock
if kind == 'claim' then held = claim end
local other = claim
if kind == 'claim' then other = lock end

if not held then
  local mine = other and holds(other, actor, token)
  return cjson.encode({ status = 'not_held', now = NOW, other_is_mine = mine and true or false })
end
if not force and not holds(held, actor, token) then
  return cjson.encode({ status = 'not_holder', now = NOW, held = view(held) })
end
hold_drop(e, kind)
local verb
if kind == 'lock' then
  verb = force and 'force_unlocked' or 'unlocked'
else
  verb = force and 'force_released' or 'released'
end
record(e, { kind = verb, actor = actor, actor_display = display, holder = held.holder,
            display = held.display, reason = held.reason, fence = held.fence })
local next = nil
if kind == 'lock' and not freeze then next = hand_off(e) end
return cjson.encode({ status = 'ok', now = NOW, held = view(held), next = view(next) })
