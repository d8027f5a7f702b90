-- freeze / unfreeze: every env named in ARGV[1] (one group) in one step.
-- ARGV[4] 'freeze' | 'unfreeze'  [5] actor  [6] display  [7] reason  [8] until ms (0: until lifted)
-- ARGV[9] scope ('env' or 'all', kept so status can say how the freeze was made)
-- ARGV[10] a duration in ms from now (0: use ARGV[8])
local mode, actor, display, reason, till, scope = ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
if tonumber(ARGV[10]) > 0 then till = NOW + tonumber(ARGV[10]) end
local changed = {}
for _, e in ipairs(ENVS) do
  local lock, _, freeze = settle(e)
  if mode == 'freeze' then
    redis.call('DEL', e.freeze)
    redis.call('HSET', e.freeze, 'by', actor, 'display', display, 'reason', reason, 'since', NOW,
               'until', till, 'scope', scope)
    if till > 0 then
      redis.call('ZADD', e.deadlines, till, 'freeze:' .. e.name)
    else
      redis.call('ZREM', e.deadlines, 'freeze:' .. e.name)
    end
    record(e, { kind = 'frozen', actor = actor, actor_display = display, reason = reason, ['until'] = till })
    changed[#changed + 1] = { env = e.name, was = freeze, lock = view(lock) }
  elseif freeze then
    redis.call('DEL', e.freeze)
    redis.call('ZREM', e.deadlines, 'freeze:' .. e.name)
    record(e, { kind = 'unfrozen', actor = actor, actor_display = display, reason = freeze.reason })
    if not lock then lock = hand_off(e) end
    changed[#changed + 1] = { env = e.name, was = freeze, lock = view(lock) }
  end
end
return cjson.encode({ status = 'ok', now = NOW, changed = changed })
