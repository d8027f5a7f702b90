-- claim: take a staging env, or free members of a pool (all members share one hash tag, so
-- picking free ones and taking them is a single atomic step): `count` of them, all or none. A
-- frozen member (a one-off freeze or a calendar window on now) is claimed like a lock: only by
-- an admin, recorded as over it.
-- ARGV[5] holder  [6] display  [7] note  [8] ttl ms  [9] token  [10] '1' if admin
-- ARGV[11] how many members (absent: 1)
local holder, display, note, ttl, token = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local admin = ARGV[10] == '1'
local count = tonumber(ARGV[11] or '1')
local picked, soonest, frozen, frozen_count = {}, nil, nil, 0
for _, e in ipairs(ENVS) do
  local _, claim, freeze = settle(e)
  if claim and claim.holder == holder then
    return cjson.encode({ status = 'already', now = NOW, env = e.name, claim = view(claim) })
  end
  if not claim then
    if freeze and not admin then
      frozen_count = frozen_count + 1
      if not frozen then frozen = { env = e.name, freeze = freeze } end
    elseif #picked < count then
      picked[#picked + 1] = { env = e, over = freeze }
    end
  end
  if claim and (not soonest or tonumber(claim.expires) < tonumber(soonest.claim.expires)) then
    soonest = { env = e.name, claim = view(claim) }
  end
end
if #picked < count then
  -- Frozen members would have made up the number: the freeze is what stands in the way.
  if frozen and #picked + frozen_count >= count then
    return cjson.encode({ status = 'frozen', now = NOW, env = frozen.env, freeze = frozen.freeze })
  end
  return cjson.encode({ status = 'taken', now = NOW, soonest = soonest, free = #picked })
end
local granted = {}
for i, p in ipairs(picked) do
  local m = hold_grant(p.env, 'claim', holder, display, note, ttl, token)
  record(p.env, { kind = 'claimed', holder = holder, display = display, reason = note,
                  fence = m.fence, expires = m.expires, over_freeze = p.over and 1 or nil,
                  window = p.over and p.over.window or nil })
  granted[i] = { env = p.env.name, claim = view(m) }
end
local answer = { status = 'ok', now = NOW, env = granted[1].env, claim = granted[1].claim }
if count > 1 then answer.more = { unpack(granted, 2) } end
return cjson.encode(answer)
