-- freeze / unfreeze: every env named in ARGV[1] (one group) in one step.
-- ARGV[5] 'freeze' | 'unfreeze'  [6] actor  [7] display  [8] reason  [9] until ms (0: until lifted)
-- ARGV[10] scope ('env' or 'all', kept so status can say how the freeze was made)
-- ARGV[11] a duration in ms from now (0: use ARGV[9])
local mode, actor, display, reason, till, scope = ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10]
if tonumber(ARGV[11]) > 0 then till = NOW + tonumber(ARGV[11]) end
-- A time given (`freeze … until`) is judged by Redis' clock, never the instance's: one that is
-- already past freezes nothing.
if mode == 'freeze' and till > 0 and till <= NOW then
  return cjson.encode({ status = 'past', now = NOW })
end
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
  elseif freeze and not freeze.window then
    -- Lifts the one-off freeze; a scheduled window still on keeps the queue waiting.
    redis.call('DEL', e.freeze)
    redis.call('ZREM', e.deadlines, 'freeze:' .. e.name)
    record(e, { kind = 'unfrozen', actor = actor, actor_display = display, reason = freeze.reason })
    if not lock and not window_live(e) then lock = hand_off(e) end
    changed[#changed + 1] = { env = e.name, was = freeze, lock = view(lock) }
  end
end
return cjson.encode({ status = 'ok', now = NOW, changed = changed })
