-- look: what settle.lua reports, without writing anything: `status`, the env view, the status
-- page and the deploy gate still answer while Redis is full (settle.lua, which may write, is
-- refused then). What settle would apply shows as done: a hold past its end is gone, a freeze
-- past its `until` is over, a waiter that went away is out of line. Nothing is handed off (no
-- grant can be written while Redis is full): a free lock shows free, its line still waiting.
-- ARGV[5] (the deploy gate): a lock token; the answer says whether it is the first env's lock's.
-- ARGV[6] how many waiters to list, as for settle.lua.
-- ARGV[7] '1': each env's skipped calendar occurrences too (`skips`), as for settle.lua.
local presented = ARGV[5] or ''
local with_skips = ARGV[7] == '1'
local function live(m)
  if m and tonumber(m.expires) > NOW then return m end
  return nil
end
local out = {}
local token_holds = false
for i, e in ipairs(ENVS) do
  local lock, claim = live(hash_read(e.lockmeta)), live(hash_read(e.claimmeta))
  local freeze = hash_read(e.freeze)
  if freeze then
    freeze['until'], freeze.since = tonumber(freeze['until']), tonumber(freeze.since)
    if freeze['until'] > 0 and freeze['until'] <= NOW then freeze = nil end
  end
  freeze = freeze or window_live(e)
  -- Waiters that went away are out of line, as `settle` would leave it: one range read of `gone`.
  local page = tonumber(ARGV[6] or '') or QUEUE_PAGE
  local away = {}
  for _, holder in ipairs(redis.call('ZRANGEBYSCORE', e.gone, '-inf', NOW)) do away[holder] = true end
  local waiting = {}
  for _, w in ipairs(queue_view(e, -1)) do
    if not away[w.holder] then waiting[#waiting + 1] = w end
  end
  local listed = {}
  for j = 1, (page < 0 and #waiting or math.min(page, #waiting)) do listed[j] = waiting[j] end
  out[i] = { env = e.name, lock = view(lock), claim = view(claim), freeze = freeze,
             queue = listed, queued = #waiting, deploy = hash_read(e.deploy) }
  if with_skips then
    local found = {}
    for _, f in ipairs(redis.call('HKEYS', e.marks)) do
      if string.sub(f, 1, 5) == 'skip:' then found[#found + 1] = f end
    end
    if #found > 0 then out[i].skips = found end
  end
  if i == 1 and presented ~= '' and lock and lock.token == presented then token_holds = true end
end
return cjson.encode({ status = 'ok', now = NOW, envs = out, token_holds = token_holds })
