-- settle / status: apply due expiries and hand-offs on every env named in ARGV[1], and report
-- each env's state (used by the expiry sweeper and by `status`).
-- ARGV[5] (the deploy gate): a lock token; the answer says whether it is the first env's lock's.
-- ARGV[6] how many waiters of each env to list ('': the first page, `status`; '0': none, the
--         sweeper; '-1': all of them); `queued` always says how many wait.
-- ARGV[7] '1': each env's skipped calendar occurrences too (`skips`: its `skip:<window>@<start>`
--         marks), for the views that show the next window, which must pass over them.
local presented = ARGV[5] or ''
local page = tonumber(ARGV[6] or '') or QUEUE_PAGE
local with_skips = ARGV[7] == '1'
-- The env's `skip:` marks (the marks hash holds only the calendar's few, near now), or nil.
local function skip_marks(e)
  local found = {}
  for _, f in ipairs(redis.call('HKEYS', e.marks)) do
    if string.sub(f, 1, 5) == 'skip:' then found[#found + 1] = f end
  end
  if #found > 0 then return found end
  return nil
end
local out = {}
local mine = {}
local token_holds = false
for i, e in ipairs(ENVS) do
  local lock, claim, freeze = settle(e)
  out[i] = { env = e.name, lock = view(lock), claim = view(claim), freeze = freeze,
             queue = queue_view(e, page), queued = queue_len(e),
             deploy = hash_read(e.deploy), set_head = e.set_head }
  if with_skips then out[i].skips = skip_marks(e) end
  mine[e.name] = e
  if i == 1 and presented ~= '' and lock and lock.token == presented then token_holds = true end
end
-- Whatever is still due for these envs was left behind (a reminder whose lead was configured
-- away, a hold removed by hand): nothing will ever settle it, so it goes, and the sweeper does not
-- find the group due again on every tick. A set's turn this call could not decide (`set_head`:
-- it names envs this call does not) stays due until the sweeper settles the whole set.
-- A pending approval request past its timeout is rejected here, once (approval.lua).
local function approval_lapsed(x, id)
  local raw = redis.call('HGET', x.marks, 'approval:' .. id)
  if not raw then return end
  local r = cjson.decode(raw)
  if r.decided then return end
  r.decided, r.by, r.why = 'rejected', '', 'timed out'
  redis.call('HSET', x.marks, 'approval:' .. id, cjson.encode(r))
  record(x, { kind = 'approval_rejected', holder = r.holder, display = r.display,
              reason = 'timed out', request = id })
end
local stale = {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', ENVS[1].deadlines, '-inf', NOW)) do
  local x = mine[string.match(member, '([^:]+)$')]
  local request = x and string.match(member, '^approval:([^:]+):')
  if request then approval_lapsed(x, request) end
  if x and not (x.set_head and string.sub(member, 1, 4) == 'set:') then
    stale[#stale + 1] = member
  end
end
if #stale > 0 then redis.call('ZREM', ENVS[1].deadlines, unpack(stale)) end
return cjson.encode({ status = 'ok', now = NOW, envs = out, token_holds = token_holds })
