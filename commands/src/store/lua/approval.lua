-- approval: the two-person rule. A lock on an env that needs approvals is first a pending
-- request; other people (deployers or admins, never the requester) approve it, and with the last
-- approval needed it is granted (or lines up, when the env is busy) in the same step. A rejection
-- or the request's timeout ends it. Pending requests live in the env's marks hash
-- (`approval:<id>` -> JSON), each with a deadline (`approval:<id>:<env>`) that the sweeper's
-- settle turns into a rejection (settle.lua); a decided request stays as a tombstone until its
-- marks expire, so a retry or a waiting request hears how it ended.
-- ARGV[5] op: 'ask', 'bypass' (an admin's lock: the ask's arguments), 'approve', 'reject' or 'check'
-- ask:     [6] holder [7] display [8] reason [9] ttl ms [10] token [11] id [12] timeout ms
--          [13] approvals needed [14] mode ('lock', 'queue', 'wait', 'poll', or 'run': a GitHub
--          run, which lines up once approved and hears a refusal from the audit stream) [15] lease ms
--          [16] wait ms [17] queue limit
-- approve: [6] actor [7] actor display [8] id ('' : the oldest the actor may decide) [9] limit
-- reject:  [6] actor [7] actor display [8] id ('' : as for approve) [9] reason
-- check:   [6] holder [7] id
local e = ENVS[1]
local op = ARGV[5]
local lock, claim, freeze = settle(e)

local function answer(status, r)
  r = r or {}
  r.status, r.now = status, digits(NOW)
  return cjson.encode(r)
end

-- Every request on the env (pending or decided), oldest first.
local function requests()
  local out = {}
  local raw = redis.call('HGETALL', e.marks)
  for i = 1, #raw, 2 do
    if string.sub(raw[i], 1, 9) == 'approval:' then out[#out + 1] = cjson.decode(raw[i + 1]) end
  end
  table.sort(out, function(a, b) return a.at < b.at end)
  return out
end

local function save(r)
  redis.call('HSET', e.marks, 'approval:' .. r.id, cjson.encode(r))
end

local function deadline(r)
  return 'approval:' .. r.id .. ':' .. e.name
end

-- Ends `r` as rejected (by `actor`, or by its timeout when `actor` is '').
local function reject(r, actor, actor_display, why)
  r.decided, r.by, r.why = 'rejected', actor_display, why
  save(r)
  redis.call('ZREM', e.deadlines, deadline(r))
  record(e, { kind = 'approval_rejected', holder = r.holder, display = r.display, actor = actor,
              actor_display = actor_display, reason = why, request = r.id })
end

-- A pending request past its timeout is rejected now (the sweeper may not have got to it).
local function lapse(r)
  if not r.decided and r['until'] <= NOW then reject(r, '', '', 'timed out') end
  return r
end

local function names(list)
  return table.concat(list, ', ')
end

-- The last approval came in: the lock is granted if the env is free, else (a person, or a
-- waiting request) the request lines up; a polling request is granted on its next poll.
local function grant(r)
  r.decided = 'approved'
  save(r)
  redis.call('ZREM', e.deadlines, deadline(r))
  local by = names(r.approvers_display)
  if not lock and not freeze and queue_len(e) == 0 then
    -- A waiting request is offered it for one lease, as a hand-off would (it may be gone).
    local offer = r.lease > 0 and r.lease < r.ttl
    local m = hold_grant(e, 'lock', r.holder, r.display, r.reason, offer and r.lease or r.ttl,
                         r.token)
    if offer then redis.call('HSET', e.lockmeta, 'offer', int(r.ttl)) end
    record(e, { kind = 'locked', holder = r.holder, display = r.display, reason = r.reason,
                fence = m.fence, expires = NOW + r.ttl, approved_by = by, request = r.id,
                offer = offer and 1 or nil })
    lock = m
    return answer('granted', { lock = view(m), token = r.token, holder = r.display, by = by })
  end
  if r.mode == 'poll' then
    return answer('approved', { holder = r.display, by = by, lock = view(lock) })
  end
  local limit = tonumber(ARGV[9]) or 0
  if queue_len(e) >= limit then
    reject(r, '', '', 'queue full')
    return answer('queue_full', { limit = limit })
  end
  local entry = { holder = r.holder, display = r.display, reason = r.reason, ttl = r.ttl,
    token = r.token, at = NOW, ['until'] = NOW + (r.wait > 0 and r.wait or WAIT_DEFAULT) }
  local lease_until = nil
  if r.lease > 0 then
    entry.span, entry['until'], lease_until = r.lease, entry['until'] + r.lease, NOW + r.lease
  end
  local position = queue_len(e) + 1
  queue_push(e, entry, lease_until)
  record(e, { kind = 'queued', holder = r.holder, display = r.display, reason = r.reason,
              position = position, behind = lock and lock.display or nil, approved_by = by })
  return answer('queued', { position = position, holder = r.display, by = by })
end

if op == 'ask' then
  local holder, display, reason, ttl, token = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10]
  local mode = ARGV[14]
  if lock and lock.holder == holder then
    offer_take(e, lock)
    if lock.token ~= token then
      redis.call('HSET', e.lockmeta, 'token', token)
      lock.token = token
    end
    return answer('already', { lock = view(lock), token = token })
  end
  -- A waiting request asked again (a retry with its key) after its approval put it in line.
  local position = queue_len(e) > 0 and queue_position(e, holder)
  if position then return answer('queued', { position = position }) end
  -- A person asking again starts afresh once their last request was decided; a pipeline (the
  -- same holder: a retry or a poll with the same key) hears how it was decided.
  local polls = mode == 'poll' or mode == 'wait' or mode == 'run'
  for _, r in ipairs(requests()) do
    if r.holder == holder and (polls or not lapse(r).decided) then
      lapse(r)
      if not r.decided then
        return answer('already_pending', { id = r.id, ['until'] = r['until'],
                                           have = #r.approvers, needed = r.needed })
      end
      if r.decided == 'rejected' then
        return answer('rejected', { id = r.id, by = r.by, why = r.why })
      end
      -- Approved, polled again: granted now if the env is free.
      if mode == 'poll' and r.decided == 'approved' then
        if not lock and not freeze and queue_len(e) == 0 then
          local m = hold_grant(e, 'lock', holder, display, reason, r.ttl, token)
          record(e, { kind = 'locked', holder = holder, display = display, reason = r.reason,
                      fence = m.fence, expires = m.expires,
                      approved_by = names(r.approvers_display), request = r.id })
          return answer('granted', { lock = view(m), token = token })
        end
        if lock then return answer('locked', { lock = view(lock), queued = queue_len(e) }) end
        if freeze then return answer('frozen', { freeze = freeze }) end
        return answer('locked', { queued = queue_len(e) })
      end
    end
  end
  if freeze and mode ~= 'queue' then
    if mode == 'run' then
      record(e, { kind = 'refused', holder = holder, display = display, reason = 'frozen',
                  frozen_until = freeze['until'], freeze_reason = freeze.reason })
    end
    return answer('frozen', { freeze = freeze })
  end
  local timeout = tonumber(ARGV[12])
  local r = { id = ARGV[11], holder = holder, display = display, reason = reason, ttl = ttl,
    token = token, needed = tonumber(ARGV[13]), approvers = {}, approvers_display = {},
    at = NOW, ['until'] = NOW + timeout, mode = mode, lease = tonumber(ARGV[15]),
    wait = tonumber(ARGV[16]) }
  save(r)
  marks_keep(e, r['until'])
  redis.call('ZADD', e.deadlines, int(r['until']), deadline(r))
  record(e, { kind = 'approval_requested', holder = holder, display = display, reason = reason,
              request = r.id, needed = r.needed, ['until'] = r['until'] })
  return answer('pending', { id = r.id, ['until'] = r['until'], needed = r.needed })
end

-- An admin's lock needs no approval: taken at once when free (over a freeze too), recorded as a
-- bypass; otherwise the admin hears who holds it.
if op == 'bypass' then
  local holder, display, reason, ttl, token = ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]), ARGV[10]
  if lock and lock.holder == holder then return answer('already', { lock = view(lock), token = lock.token }) end
  if lock or queue_len(e) > 0 then
    return answer('locked', { lock = view(lock), queued = queue_len(e) })
  end
  local m = hold_grant(e, 'lock', holder, display, reason, ttl, token)
  record(e, { kind = 'locked', holder = holder, display = display, reason = reason,
              fence = m.fence, expires = m.expires, bypass = 1, over_freeze = freeze and 1 or nil,
              window = freeze and freeze.window or nil })
  return answer('granted', { lock = view(m), token = token })
end

if op == 'check' then
  local holder, id = ARGV[6], ARGV[7]
  local raw = redis.call('HGET', e.marks, 'approval:' .. id)
  if not raw then return answer('unknown') end
  local r = lapse(cjson.decode(raw))
  if r.holder ~= holder then return answer('unknown') end
  if not r.decided then
    return answer('pending', { id = r.id, ['until'] = r['until'], have = #r.approvers,
                               needed = r.needed })
  end
  if r.decided == 'rejected' then return answer('rejected', { id = r.id, by = r.by, why = r.why }) end
  return answer('approved', { id = r.id, by = names(r.approvers_display) })
end

-- approve / reject: the request named, or the oldest pending one the actor may decide.
local actor, actor_display, id = ARGV[6], ARGV[7], ARGV[8]
local target, own = nil, nil
for _, r in ipairs(requests()) do
  lapse(r)
  if (id == '' or r.id == id) and not r.decided then
    if r.holder ~= actor then
      target = r
      break
    end
    own = own or r
  end
end

if op == 'reject' then
  -- The requester may withdraw their own request.
  target = target or own
  if not target then return answer('no_request') end
  local why = ARGV[9]
  if why == '' then why = 'rejected' end
  if target.holder == actor then why = 'withdrawn' end
  reject(target, actor, actor_display, why)
  return answer('rejected', { holder = target.display, id = target.id })
end

-- approve
if not target then
  if own then return answer('self', { id = own.id }) end
  return answer('no_request')
end
for _, a in ipairs(target.approvers) do
  if a == actor then return answer('already_approved', { holder = target.display }) end
end
target.approvers[#target.approvers + 1] = actor
target.approvers_display[#target.approvers_display + 1] = actor_display
if #target.approvers < target.needed then
  save(target)
  record(e, { kind = 'approved', holder = target.holder, display = target.display, actor = actor,
              actor_display = actor_display, reason = target.reason, request = target.id,
              have = #target.approvers, needed = target.needed })
  return answer('more', { holder = target.display, have = #target.approvers,
                          needed = target.needed })
end
record(e, { kind = 'approved', holder = target.holder, display = target.display, actor = actor,
            actor_display = actor_display, reason = target.reason, request = target.id,
            have = #target.approvers, needed = target.needed })
return grant(target)
