-- migrate_queue: moves an env's queue from the layout of earlier versions (one list of JSON
-- entries, step_key(1)) to the line, waiters and gone keys (prelude.lua), in order, once. An
-- entry already in the new line is left there; a waiter that has gone since is taken out by the
-- next call that settles the env, and recorded then, like any other.
local e = ENVS[1]
local old = step_key(1)
if redis.call('TYPE', old).ok ~= 'list' then
  return cjson.encode({ status = 'ok', now = NOW, moved = 0 })
end
local moved = 0
for _, raw in ipairs(redis.call('LRANGE', old, 0, -1)) do
  local ok, w = pcall(cjson.decode, raw)
  if ok and type(w) == 'table' and type(w.holder) == 'string' and tonumber(w['until'])
      and not redis.call('ZSCORE', e.line, w.holder) then
    local lease = tonumber(w.lease)
    w.lease, w.raw = nil, nil
    w['until'] = tonumber(w['until'])
    queue_push(e, w, lease)
    moved = moved + 1
  end
end
redis.call('DEL', old)
return cjson.encode({ status = 'ok', now = NOW, moved = moved })
