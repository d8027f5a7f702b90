-- claim: take a staging env, or the first free member of a pool (all members share one hash tag,
-- so picking a free one and taking it is a single atomic step). A frozen member (a one-off freeze
-- or a calendar window on now) is claimed like a lock: only by an admin, recorded as over it.
-- ARGV[5] holder  [6] display  [7] note  [8] ttl ms  [9] token  [10] '1' if admin
local holder, display, note, ttl, token = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local admin = ARGV[10] == '1'
local free, over, soonest, frozen = nil, nil, nil, nil
for _, e in ipairs(ENVS) do
  local _, claim, freeze = settle(e)
  if claim and claim.holder == holder then
    return cjson.encode({ status = 'already', now = NOW, env = e.name, claim = view(claim) })
  end
  if not claim and not free then
    if freeze and not admin then
      if not frozen then frozen = { env = e.name, freeze = freeze } end
    else
      free, over = e, freeze
    end
  end
  if claim and (not soonest or tonumber(claim.expires) < tonumber(soonest.claim.expires)) then
    soonest = { env = e.name, claim = view(claim) }
  end
end
if not free and frozen then
  return cjson.encode({ status = 'frozen', now = NOW, env = frozen.env, freeze = frozen.freeze })
end
if not free then
  return cjson.encode({ status = 'taken', now = NOW, soonest = soonest })
end
local m = hold_grant(free, 'claim', holder, display, note, ttl, token)
record(free, { kind = 'claimed', holder = holder, display = display, reason = note,
               fence = m.fence, expires = m.expires, over_freeze = over and 1 or nil,
               window = over and over.window or nil })
return cjson.encode({ status = 'ok', now = NOW, env = free.name, claim = view(m) })
