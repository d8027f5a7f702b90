-- lock_set: take several envs' deploy locks together, all of them or none, in one atomic step;
-- or (queue, wait) wait for all of them together. Each env keeps its own fence, hold and audit
-- entry; the entries name the set (`set`), and all carry the same time, so the notifier announces
-- the set as one message per channel.
-- ARGV[5] holder  [6] display  [7] reason  [8] ttl ms  [9] token  [10] '1' if admin
-- ARGV[11] 'lock' (default), 'queue', or 'wait' (a waiting CI request: a frozen env refuses it)
-- ARGV[12] queue limit  [13] wait ms (0: the default)  [14] lease ms of a `wait` entry (0: none)
--
-- A refusal names every env that stands in the way, and why (`locked`: its hold and line;
-- `reserved`: free, but kept for the set waiter first in its line; `frozen`: its freeze; `mine`:
-- the caller holds it already, alone; `queued`: the caller waits for it alone), and takes nothing.
-- A set that waits joins the line of every env of the set at once, as one waiter (prelude's
-- `set_turn`), and is handed every env together when it heads all the lines and all are free.
local holder, display, reason, ttl, token = ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9]
local admin = ARGV[10] == '1'
local mode = ARGV[11] or 'lock'
if mode == '' then mode = 'lock' end
local names, seen, blocked = {}, {}, {}
for i, e in ipairs(ENVS) do
  names[i] = e.name
end
local set = table.concat(names, ',')

-- Already waiting for this set (a retry of a waiting request, or a person asking twice): this
-- attempt takes over the entry's token and lease in every line.
local waiting_in = 0
for i, e in ipairs(ENVS) do
  local lock, claim, freeze = settle(e)
  seen[i] = { lock = lock, claim = claim, freeze = freeze }
  local w = queue_len(e) > 0 and waiter_get(e, holder)
  if w then
    if w.set == set then
      waiting_in = waiting_in + 1
    else
      blocked[#blocked + 1] = { env = e.name, why = 'queued', set = w.set }
    end
  end
end
if waiting_in == #ENVS and #blocked == 0 then
  local lease = tonumber(ARGV[14] or '0') or 0
  local places = {}
  for i, e in ipairs(ENVS) do
    if lease > 0 then
      local w = waiter_get(e, holder)
      w.token = token
      redis.call('HSET', e.waiters, holder, cjson.encode(w))
      redis.call('ZADD', e.gone, int(gone_at(w, NOW + lease)), holder)
    end
    places[i] = { env = e.name, position = queue_position(e, holder) }
  end
  return cjson.encode({ status = 'already_queued', now = digits(NOW), places = places })
end

local waits = false -- whether anything stands in the way that waiting could get past
for i, e in ipairs(ENVS) do
  local s = seen[i]
  local lock, freeze = s.lock, s.freeze
  if lock and lock.holder == holder then
    blocked[#blocked + 1] = { env = e.name, why = 'mine', lock = view(lock) }
  elseif lock then
    blocked[#blocked + 1] = { env = e.name, why = 'locked', lock = view(lock),
                              queued = digits(queue_len(e)) }
    waits = true
  elseif freeze and not admin then
    blocked[#blocked + 1] = { env = e.name, why = 'frozen', freeze = freeze }
    if mode == 'queue' then waits = true end
  elseif not freeze and queue_len(e) > 0 then
    local kept = kept_for(e)
    blocked[#blocked + 1] = { env = e.name, why = 'reserved', first = kept.first,
                              set = kept.set, queued = digits(queue_len(e)) }
    waits = true
  end
end

if #blocked == 0 then
  local locks = {}
  for i, e in ipairs(ENVS) do
    local s = seen[i]
    local m = hold_grant(e, 'lock', holder, display, reason, ttl, token)
    record(e, { kind = 'locked', holder = holder, display = display, reason = reason,
                fence = m.fence, expires = m.expires, over_freeze = s.freeze and 1 or nil,
                window = s.freeze and s.freeze.window or nil, set = set })
    locks[i] = { env = e.name, lock = view(m), claim = view(s.claim), freeze = s.freeze }
  end
  return cjson.encode({ status = 'ok', now = digits(NOW), token = token, locks = locks })
end

-- Only what waiting gets past may be waited for: not the caller's own hold or place.
local function only_waitable()
  for _, b in ipairs(blocked) do
    if b.why == 'mine' or b.why == 'queued' or (b.why == 'frozen' and mode == 'wait') then
      return false
    end
  end
  return true
end
if mode == 'lock' or not waits or not only_waitable() then
  return cjson.encode({ status = 'blocked', now = digits(NOW), blocked = blocked })
end

local limit, wait, lease = tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
for _, e in ipairs(ENVS) do
  if queue_len(e) >= limit then
    return cjson.encode({ status = 'queue_full', now = digits(NOW), env = e.name, limit = limit })
  end
end
if wait <= 0 then wait = WAIT_DEFAULT end
local entry = { holder = holder, display = display, reason = reason, ttl = ttl, token = token,
  at = NOW, ['until'] = NOW + wait, set = set }
local lease_until = nil
if lease > 0 then
  entry.span, entry['until'], lease_until = lease, NOW + wait + lease, NOW + lease
end
local places = {}
for i, e in ipairs(ENVS) do
  local s = seen[i]
  local position = queue_len(e) + 1
  queue_push(e, entry, lease_until)
  record(e, { kind = 'queued', holder = holder, display = display, reason = reason,
              position = position, behind = s.lock and s.lock.display or nil, set = set })
  places[i] = { env = e.name, position = position }
end
-- An env that is free now is kept for the set from here on (`set_turn` marks when to look again).
for i, e in ipairs(ENVS) do
  if not seen[i].lock and not seen[i].freeze then hand_off(e) end
end
return cjson.encode({ status = 'queued', now = digits(NOW), places = places, blocked = blocked })
