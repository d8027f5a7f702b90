-- The library's shared part: every Baton function (scripts.rs puts this first, then each step
-- file as a registered function). It is loaded once per server with FUNCTION LOAD, so these
-- helpers are defined once, not on every call; a call runs `begin` and then its step, atomically:
-- settling due expiries, the change itself, the fence, the audit entry and the event happen together.
--
-- KEYS: one per environment, the details hash of its lock (`<prefix>:{<group>}:lockmeta:<env>`);
--       its other ten keys (store/keys.rs' `EnvKeys`) share that key's hash tag and are named from
--       it once per env (`env_meta`), so a call sends and Redis reads one key name per env, not
--       eleven.
-- ARGV[1]: comma-separated env names, one per block of KEYS; `name=<ms>` gives the env's reminder
--          lead (remind_before): its holders are reminded that long before a hold ends; each
--          `@<window>:<start ms>:<end ms>:<hex reason>` after it is a scheduled freeze window of
--          the calendar near now (the caller's clock; the script decides against Redis' own)
-- ARGV[2]: event channel
-- ARGV[3]: history length (stream MAXLEN ~)
-- ARGV[4]: the request's fingerprint when the call is idempotent (then the last KEY is its record)
-- KEYS after the envs' blocks (and before an idempotency record) belong to the step: `step_key(i)`
-- ARGV[5..]: the step's own arguments
local KEYS_PER_ENV = 1
local IDEM_TTL = '86400000' -- a retry with the same idempotency key gets the first answer for a day
local GRACE = 86400000 -- a queue or a calendar mark outlives what it is for by a day
local WAIT_DEFAULT = 86400000 -- a queue entry without its own wait limit lapses after a day

-- The call in progress, set by `begin`. Functions run one at a time, so these are its own.
local KEYS, ARGV, CHANNEL, HISTLEN, IDEM_FP, NOW, ENVS, IDEM

-- An integer as a command argument. Redis 7.0 writes a Lua number argument with "%.17g", the
-- slow, arbitrary-precision path of printf; "%d" prints the same digits, faster, for the
-- integers these are (milliseconds, fences).
local function int(n)
  return string.format('%d', n)
end

-- An env's keys beside its lock's details, by the field that holds each: `<stem><what>:<env>`
-- (`deadlines` is the group's: `<stem>deadlines`). Named once per env and library load, then
-- reused by every call (making a key name in Lua costs about as much as a Redis command): each
-- env's names are the `__index` of a metatable of its own, kept by its lock's key.
local ENV_KEY = { claimmeta = 'claimmeta', fence = 'fence', line = 'line', freeze = 'freeze',
  history = 'history', deploy = 'deploy', marks = 'marks', waiters = 'waiters', gone = 'gone' }
local ENV_META, ENV_METAS = {}, 0
local ENV_META_MAX = 4096 -- far more envs than any config names; past it, the names start over
local function env_meta(lockmeta, name)
  local meta = ENV_META[lockmeta]
  if meta then return meta end
  if ENV_METAS >= ENV_META_MAX then ENV_META, ENV_METAS = {}, 0 end
  ENV_METAS = ENV_METAS + 1
  -- `<stem>lockmeta:<name>`: the stem is all before `lockmeta:`.
  local stem = string.sub(lockmeta, 1, #lockmeta - #name - 9)
  local keys = { lockmeta = lockmeta, deadlines = stem .. 'deadlines' }
  for field, what in pairs(ENV_KEY) do keys[field] = stem .. what .. ':' .. name end
  meta = { __index = keys }
  ENV_META[lockmeta] = meta
  return meta
end

-- One env of ARGV[1] (`name[=lead][@window…]`), whose key is the one after `b` in KEYS.
local function env_of(keys, b, item)
  -- Plain finds, not patterns: this runs on every call, and most envs have neither part.
  local name, remind, windows = item, 0, ''
  local at = string.find(item, '@', 1, true)
  if at then name, windows = string.sub(item, 1, at - 1), string.sub(item, at) end
  local eq = string.find(name, '=', 1, true)
  if eq then name, remind = string.sub(name, 1, eq - 1), tonumber(string.sub(name, eq + 1)) or 0 end
  return setmetatable({ name = name, remind = remind, windows = windows },
                      env_meta(keys[b + 1], name))
end

local function begin(keys, args)
  KEYS, ARGV = keys, args
  CHANNEL, HISTLEN, IDEM_FP = args[2], args[3], args[4]
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if args[1] == '' then
    ENVS = {}
  elseif not string.find(args[1], ',', 1, true) then
    ENVS = { env_of(keys, 0, args[1]) }
  else
    ENVS = {}
    for item in string.gmatch(args[1], '[^,]+') do
      ENVS[#ENVS + 1] = env_of(keys, #ENVS * KEYS_PER_ENV, item)
    end
  end
  IDEM = IDEM_FP ~= '' and keys[#keys] or nil
end

-- The step's own `i`th key, after the envs' (a GitHub run's ledger, see lock.lua).
local function step_key(i)
  return KEYS[#ENVS * KEYS_PER_ENV + i]
end

local function unhex(h)
  return (string.gsub(h, '%x%x', function(c) return string.char(tonumber(c, 16)) end))
end

-- The calendar's windows near now on `e`, decoded when first asked for (most calls never ask).
local function windows_of(e)
  if type(e.windows) == 'string' then
    local list = {}
    for w, s, stop, hex in string.gmatch(e.windows, '@([^:@]+):(%d+):(%d+):(%x*)') do
      list[#list + 1] = { name = w, start = tonumber(s), stop = tonumber(stop), reason = unhex(hex) }
    end
    e.windows = list
  end
  return e.windows
end

local function hash_read(key)
  local h = redis.call('HGETALL', key)
  if #h == 0 then return nil end
  local m = {}
  for i = 1, #h, 2 do m[h[i]] = h[i + 1] end
  return m
end

-- Appends to the env's audit stream and announces the change on the event channel: one JSON
-- text, encoded once, is both the stream entry's `event` field and the published message.
local function record(e, ev)
  ev.env = e.name
  ev.at = NOW
  local json = cjson.encode(ev)
  redis.call('XADD', e.history, 'MAXLEN', '~', HISTLEN, '*', 'event', json)
  redis.call('PUBLISH', CHANNEL, json)
end

-- A whole number as an answer carries it: its digits, as text. The details hash holds them so
-- already; a number is printed with "%d". Never cjson's own number printing, Redis' slowest step
-- in a refusal (a "%.14g" printf per number); Rust reads either form (`state::lua_int`).
local function digits(n)
  if type(n) == 'string' then return n end
  return string.format('%d', n)
end

-- The same as JSON, written directly (a refusal's answer: cjson's walk of a nested table is the
-- larger part of what refusing costs). Text goes through cjson, so it is escaped as ever.
local function view_json(m)
  local text = cjson.encode
  return '{"holder":' .. text(m.holder) .. ',"display":' .. text(m.display) .. ',"reason":'
    .. text(m.reason or '') .. ',"since":' .. digits(m.since) .. ',"expires":'
    .. digits(m.expires) .. ',"fence":' .. digits(m.fence) .. '}'
end

-- What callers may see of a hold: never its token.
local function view(m)
  if not m then return nil end
  return { holder = m.holder, display = m.display, reason = m.reason, since = digits(m.since),
           expires = digits(m.expires), fence = digits(m.fence) }
end

-- A hold's details: the hash that is the hold (holder, reason, token, fence, since, expires).
local function meta_key(e, kind)
  if kind == 'lock' then return e.lockmeta end
  return e.claimmeta
end

-- Reminders share the deadline set: `remind:<kind>:<env>` is due `remind` ms before the hold ends.
local function remind_member(e, kind)
  return 'remind:' .. kind .. ':' .. e.name
end

-- (Re)arms the reminder of a hold ending at `expires`; none when it would already be due.
local function remind_arm(e, kind, expires)
  local at = expires - e.remind
  if e.remind > 0 and at > NOW then
    redis.call('ZADD', e.deadlines, int(at), remind_member(e, kind))
  else
    redis.call('ZREM', e.deadlines, remind_member(e, kind))
  end
end

-- A due reminder becomes a `<kind>_reminder` entry (the notifier DMs the holder), exactly once:
-- the entry is removed in the same step. Nothing is read unless the live hold `m` is inside its
-- reminder window (the hold's end says when that is).
local function remind_due(e, kind, m)
  if not m or e.remind <= 0 or tonumber(m.expires) - e.remind > NOW then return end
  local member = remind_member(e, kind)
  local at = redis.call('ZSCORE', e.deadlines, member)
  if not at or tonumber(at) > NOW then return end
  redis.call('ZREM', e.deadlines, member)
  local reminder = 'claim_reminder'
  if kind == 'lock' then reminder = 'lock_reminder' end
  record(e, { kind = reminder, holder = m.holder, display = m.display,
              reason = m.reason, fence = m.fence, expires = m.expires })
end

-- Returns the live hold of `kind` ('lock' or 'claim') on `e`, expiring it first when it is due,
-- and whether its details were there at all. The details' `expires` is the deadline the
-- deadline set holds, so one read says both.
-- A hold's details as a refusal needs them; its token and offer are read the first time a step
-- asks for them (a refusal never does): `m.token`, `m.offer` (false when there is none).
local HOLD_SHOWN = { 'holder', 'display', 'reason', 'since', 'expires', 'fence' }
local HOLD_LATER = {
  __index = function(m, field)
    if field ~= 'token' and field ~= 'offer' then return nil end
    local v = redis.call('HGET', rawget(m, 'key'), field)
    rawset(m, field, v)
    return v
  end,
}
local function hold_read(key)
  local r = redis.call('HMGET', key, unpack(HOLD_SHOWN))
  if not r[1] then return nil end
  return setmetatable({ key = key, holder = r[1], display = r[2], reason = r[3] or '', since = r[4],
                        expires = r[5], fence = r[6] }, HOLD_LATER)
end

local function hold_live(e, kind)
  local meta = meta_key(e, kind)
  local m = hold_read(meta)
  if not m then return nil, false end
  if tonumber(m.expires) > NOW then return m, true end
  -- A lock handed to a waiter that never took it (an offer, see `hand_off`) did not expire: it
  -- was never held. The record says so, and the lock passes on. (Read before the details go.)
  local ended = 'claim_expired'
  if kind == 'lock' then ended = 'lock_expired' end
  if m.offer then ended = 'offer_lapsed' end
  redis.call('DEL', meta)
  redis.call('ZREM', e.deadlines, kind .. ':' .. e.name, remind_member(e, kind))
  record(e, { kind = ended, holder = m.holder, display = m.display,
              reason = m.reason, fence = m.fence, since = m.since })
  return nil, true
end

-- Grants a hold: the next fence, the details and the deadline. The details carry no TTL: the
-- deadline set says when the hold ends, and whichever call settles the env then (the sweeper's,
-- at the latest) deletes them and records the expiry, naming the holder. They are returned as
-- written, not read back.
local function hold_grant(e, kind, holder, display, reason, ttl, token)
  local meta = meta_key(e, kind)
  local fence = redis.call('INCR', e.fence)
  local till = int(NOW + ttl)
  redis.call('HSET', meta, 'holder', holder, 'display', display, 'reason', reason,
             'since', int(NOW), 'expires', till, 'fence', int(fence), 'token', token)
  redis.call('ZADD', e.deadlines, till, kind .. ':' .. e.name)
  if e.remind > 0 then remind_arm(e, kind, NOW + ttl) end
  return { holder = holder, display = display, reason = reason, since = NOW, expires = NOW + ttl,
           fence = fence, token = token }
end

local function hold_drop(e, kind)
  redis.call('DEL', meta_key(e, kind))
  redis.call('ZREM', e.deadlines, kind .. ':' .. e.name, remind_member(e, kind))
end

-- Moves a hold's deadline: the details and the deadline entry together.
local function hold_move(e, kind, m, expires)
  redis.call('HSET', meta_key(e, kind), 'expires', int(expires))
  redis.call('ZADD', e.deadlines, int(expires), kind .. ':' .. e.name)
  remind_arm(e, kind, expires)
  m.expires = expires
end

-- The waiter a lock was offered to takes it (`renew`, or its retry): the offer becomes a hold for
-- the waiter's whole TTL, from now.
local function offer_take(e, m)
  if not m.offer then return end
  hold_move(e, 'lock', m, NOW + tonumber(m.offer))
  redis.call('HDEL', e.lockmeta, 'offer')
  m.offer = nil
end

-- The freeze on `e`, ending it first when its window is over.
local function freeze_live(e)
  local f = hash_read(e.freeze)
  if not f then return nil end
  local till = tonumber(f['until'])
  if till > 0 and till <= NOW then
    redis.call('DEL', e.freeze)
    redis.call('ZREM', e.deadlines, 'freeze:' .. e.name)
    record(e, { kind = 'freeze_ended', reason = f.reason, actor = f.by })
    return nil
  end
  f['until'] = till
  f.since = tonumber(f.since)
  return f
end

-- The calendar's window on `e` now, unless an admin skipped this occurrence (or ended it early):
-- a freeze like any other for `settle` and the scripts, named by `window`.
local function window_live(e)
  if e.windows == '' then return nil end -- no window near now: the common case, decided at once
  local best
  for _, w in ipairs(windows_of(e)) do
    if w.start <= NOW and NOW < w.stop and (not best or w.stop > best['until'])
        and redis.call('HEXISTS', e.marks, 'skip:' .. w.name .. '@' .. w.start) == 0 then
      best = { by = 'calendar', display = w.name, reason = w.reason, since = w.start,
               ['until'] = w.stop, scope = 'window', window = w.name }
    end
  end
  return best
end

-- Keeps `e`'s marks (skips, notices) until `till` and a day after.
local function marks_keep(e, till)
  if redis.call('PTTL', e.marks) < till - NOW + GRACE then
    redis.call('PEXPIRE', e.marks, math.max(till - NOW, 0) + GRACE)
  end
end

-- The queue is three keys, so that what one waiter does costs the same however long the line:
-- `line` (a sorted set: each waiter's holder id, scored by its place, rising), `waiters` (a hash:
-- holder id -> the entry's JSON: display, reason, ttl, token, at, until, span) and `gone` (a
-- sorted set: holder id -> when the waiter is gone, the earlier of its wait limit and, for a
-- waiting CI request, its lease). A check-in rescores its own member of `gone`; waiters that went
-- away are taken out at once by one range read of `gone` (`queue_prune`), never by walking the
-- line; and no answer carries the line, only its length, except `status`, which pages it.
local QUEUE_PAGE = 100 -- `status` shows the first hundred waiters, and how many there are

local function waiter_get(e, holder)
  local raw = redis.call('HGET', e.waiters, holder)
  if raw then return cjson.decode(raw) end
  return nil
end

-- How many wait (after `settle`, every one of them still there).
local function queue_len(e)
  if not e.qlen then e.qlen = redis.call('ZCARD', e.line) end
  return e.qlen
end

-- The waiter's place in line, from 1, or nil when it is not in line.
local function queue_position(e, holder)
  local rank = redis.call('ZRANK', e.line, holder)
  if rank then return rank + 1 end
  return nil
end

-- When the waiter `w` is gone: at its wait limit, or when its lease (renewed by its check-ins)
-- runs out first.
local function gone_at(w, lease_until)
  if lease_until and lease_until < w['until'] then return lease_until end
  return w['until']
end

local function waiter_gone_why(w)
  if w['until'] <= NOW then return 'wait ran out' end
  return 'waiter went away'
end

-- Puts `w` at the end of the line (`lease_until`: its first lease, for a waiting request).
local function queue_push(e, w, lease_until)
  local last = redis.call('ZRANGE', e.line, -1, -1, 'WITHSCORES')
  local place = 1
  if last[2] then place = tonumber(last[2]) + 1 end
  redis.call('ZADD', e.line, int(place), w.holder)
  redis.call('HSET', e.waiters, w.holder, cjson.encode(w))
  redis.call('ZADD', e.gone, int(gone_at(w, lease_until)), w.holder)
  -- The three keys live a day past the longest wait in them, and go together.
  local keep = w['until'] - NOW + GRACE
  if redis.call('PTTL', e.line) < keep then
    redis.call('PEXPIRE', e.line, keep)
    redis.call('PEXPIRE', e.waiters, keep)
    redis.call('PEXPIRE', e.gone, keep)
  end
  if e.qlen then e.qlen = e.qlen + 1 end
end

local function queue_remove(e, holder)
  redis.call('ZREM', e.line, holder)
  redis.call('HDEL', e.waiters, holder)
  redis.call('ZREM', e.gone, holder)
  e.qlen = nil
end

-- Takes the waiters that are gone out of line, each recorded once: one range read of `gone`,
-- which finds only them.
local function queue_prune(e)
  local due = redis.call('ZRANGEBYSCORE', e.gone, '-inf', NOW)
  for _, holder in ipairs(due) do
    local w = waiter_get(e, holder)
    queue_remove(e, holder)
    if w then
      record(e, { kind = 'left_queue', holder = holder, display = w.display,
                  reason = waiter_gone_why(w) })
    end
  end
end

-- The first `n` waiters (all of them when `n` is negative), for `status`.
local function queue_view(e, n)
  local out = {}
  if n == 0 then return out end
  local holders = redis.call('ZRANGE', e.line, 0, n > 0 and n - 1 or -1)
  if #holders == 0 then return out end
  local raws = redis.call('HMGET', e.waiters, unpack(holders))
  for i, holder in ipairs(holders) do
    if raws[i] then
      local w = cjson.decode(raws[i])
      out[#out + 1] = { holder = holder, display = w.display, reason = w.reason, ttl = w.ttl,
                        at = w.at, set = w.set }
    end
  end
  return out
end

-- Who an env that is free but has a line is kept for: the first waiter's entry (a set waiter,
-- see `set_turn`), as a refusal names it (`first`, `set`).
local function kept_for(e)
  local w = waiter_get(e, redis.call('ZRANGE', e.line, 0, 0)[1]) or {}
  return { first = w.display, set = w.set }
end

-- The env of this call named `name`, or nil when the call does not name it.
local function env_named(name)
  for _, x in ipairs(ENVS) do
    if x.name == name then return x end
  end
  return nil
end

-- The lock `w` (a waiter of `e`, at the head of its line) is handed: an offer for one lease span
-- when it is a waiting request (`w.span`), else a hold for its whole TTL.
local function hand_to(e, w, set)
  local offer = w.span and w.span < w.ttl
  local m = hold_grant(e, 'lock', w.holder, w.display, w.reason, offer and w.span or w.ttl,
                       w.token)
  if offer then
    redis.call('HSET', e.lockmeta, 'offer', int(w.ttl))
    m.offer = w.ttl
  end
  record(e, { kind = 'handed_off', holder = w.holder, display = w.display, reason = w.reason,
              fence = m.fence, expires = NOW + w.ttl, waited = NOW - w.at,
              offer = offer and 1 or nil, set = set })
  return m
end

-- A set waiter (`w.set`: its envs' names, comma-joined) holds its place in the line of every env
-- of its set, and is served when it heads all of them and all are free and unfrozen: then every
-- env is handed to it at once. Until then the env it heads stays free for it, so nobody behind
-- it (and nobody who did not queue) overtakes it; the waiters' order across lines is the order
-- they joined in, so the first of them is first everywhere, and nobody waits on a cycle.
-- Only a call that names every env of the set can decide: any other marks the env due now
-- (`set:<env>` in its deadline set), and the sweeper settles the whole set (`set_head` in its
-- answer says which). A set that is not ready is looked at again when its waiter would lapse.
local settle -- (defined below: a set's turn settles the set's other envs)
local function set_turn(e, w)
  if e.turning then return nil end -- asked from within this waiter's own check
  local members = {}
  for name in string.gmatch(w.set, '[^,]+') do
    local x = env_named(name)
    if not x then
      e.set_head = w.set
      redis.call('ZADD', e.deadlines, int(NOW), 'set:' .. e.name)
      return nil
    end
    members[#members + 1] = x
  end
  for _, x in ipairs(members) do x.turning = true end
  local ready = true
  for _, x in ipairs(members) do
    if ready and x ~= e then
      local lock, _, freeze = settle(x)
      ready = not lock and not freeze and redis.call('ZRANGE', x.line, 0, 0)[1] == w.holder
    end
  end
  for _, x in ipairs(members) do x.turning = nil end
  if not ready then
    local lapse = redis.call('ZSCORE', e.gone, w.holder)
    if lapse then redis.call('ZADD', e.deadlines, lapse, 'set:' .. e.name) end
    return nil
  end
  local mine
  for _, x in ipairs(members) do
    queue_remove(x, w.holder)
    redis.call('ZREM', x.deadlines, 'set:' .. x.name)
    local m = hand_to(x, w, w.set)
    if x == e then mine = m end
  end
  return mine
end

-- Hands a free, unfrozen lock to the first waiter that is still there. A leased waiter (a waiting
-- CI request) is only offered it: the lock is its own for one lease span (`w.span`), and becomes
-- a hold for its whole TTL when its request takes it (`offer_take`, on its next check-in, which
-- the `handed_off` event wakes at once). A waiter whose instance died within its lease never
-- takes it, and the offer lapses to the next waiter (the sweeper settles it on any instance).
-- A set waiter at the head is served with its whole set, or keeps the env free (`set_turn`).
local function hand_off(e)
  if e.qlen == 0 then return nil end -- the line is known to be empty
  queue_prune(e)
  while true do
    local head = redis.call('ZRANGE', e.line, 0, 0)[1]
    if not head then
      e.qlen = 0
      return nil
    end
    local w = waiter_get(e, head)
    if w and w.set then
      w.holder = head
      return set_turn(e, w)
    end
    queue_remove(e, head)
    if w then -- (a place without its entry has nobody to hand the lock to)
      w.holder = head
      return hand_to(e, w)
    end
  end
end

-- Brings `e` up to date: due expiries, reminders and freeze ends are applied, a free lock goes to
-- the queue. Only what is due is written. One EXISTS first says which of the env's state is
-- there at all: most calls find nothing (a fresh grant) or only the lock (an unlock, an extend),
-- and then neither the claim, nor the freeze, nor the queue is read.
function settle(e)
  local present = redis.call('EXISTS', e.lockmeta, e.claimmeta, e.freeze, e.line)
  local lock, had_lock = nil, false
  if present > 0 then lock, had_lock = hold_live(e, 'lock') end
  -- How many of the claim, the freeze and the queue are there; with none, none is read.
  local others = present - (had_lock and 1 or 0)
  if others == 0 then e.qlen = 0 end
  local claim = others > 0 and hold_live(e, 'claim') or nil
  remind_due(e, 'lock', lock)
  remind_due(e, 'claim', claim)
  local freeze = (others > 0 and freeze_live(e)) or window_live(e)
  if not lock and not freeze then
    lock = hand_off(e)
  elseif e.qlen ~= 0 then
    queue_prune(e)
  end
  return lock, claim, freeze
end

-- Settles every env of the call; when each one's lock is `holder`'s, the set is this attempt's
-- (by `token`: 'superseded' when a retry took it over) and its offers are taken, and the answer
-- lists each env's lock under `status`. Nil when the set is not the holder's (the step goes on).
local function set_held(holder, token, status)
  local locks = {}
  for i, e in ipairs(ENVS) do
    local lock = settle(e)
    if not (lock and lock.holder == holder) then
      for j = i + 1, #ENVS do settle(ENVS[j]) end
      return nil
    end
    locks[i] = lock
  end
  for i = 1, #ENVS do
    if locks[i].token ~= token then return cjson.encode({ status = 'superseded', now = NOW }) end
  end
  local out = {}
  for i, e in ipairs(ENVS) do
    offer_take(e, locks[i])
    out[i] = { env = e.name, lock = view(locks[i]) }
  end
  return cjson.encode({ status = status, now = digits(NOW), token = token, locks = out })
end

local function holds(m, holder, token)
  if token ~= '' then return m.token == token end
  return m.holder == holder
end

-- Runs the script's own step. An idempotent call (a retry-safe CI request) first looks for the
-- answer a previous attempt with the same key recorded, and records its own final answer: a
-- retry after a lost answer gets the original outcome (the same token, fence and expiry), and a
-- key reused for a different request is refused. Answers that are not final (`queued`: the
-- waiter is still in line) are not recorded, so a retry finds its own queue entry again.
local NOT_FINAL = { queued = true, already_queued = true }

-- A recorded answer, told again. A grant (it carries the lock's token) is told again only while
-- that lock lives, with its expiry as it is now; once it has ended, the retry hears that it ended
-- (`released`: before the expiry it was granted with, so someone let it go; else it expired or was
-- let go after an extension), never a grant with an expiry in the past.
local function replay(answer)
  local a = cjson.decode(answer)
  -- A set (`lock_set`): told again while every one of its locks lives under its token.
  if a.token and type(a.locks) == 'table' then
    local live = true
    for i, e in ipairs(ENVS) do
      local lock, was = settle(e), a.locks[i]
      if was and lock and lock.token == a.token and tonumber(lock.fence) == tonumber(was.lock.fence) then
        was.lock = view(lock)
      else
        live = false
      end
    end
    if live then
      a.now = digits(NOW)
      return cjson.encode(a)
    end
    local first = a.locks[1]
    local how = 'ended'
    if tonumber(first.lock.expires) > NOW then how = 'released' end
    return cjson.encode({ status = 'ended', now = digits(NOW), how = how, env = first.env,
                          fence = first.lock.fence })
  end
  if not (a.token and type(a.lock) == 'table' and ENVS[1]) then return answer end
  local lock = settle(ENVS[1])
  if lock and lock.token == a.token and tonumber(lock.fence) == tonumber(a.lock.fence) then
    a.now, a.lock = NOW, view(lock)
    return cjson.encode(a)
  end
  local how = 'ended'
  if tonumber(a.lock.expires) > NOW then how = 'released' end
  return cjson.encode({ status = 'ended', now = NOW, how = how, granted = a.lock,
                        lock = view(lock) })
end

local function idempotent(step)
  if not IDEM then return step() end
  local seen = redis.call('GET', IDEM)
  if seen then
    local rec = cjson.decode(seen)
    if rec.fp ~= IDEM_FP then
      return cjson.encode({ status = 'idempotency_mismatch', now = NOW })
    end
    return replay(rec.answer)
  end
  local answer = step()
  if not NOT_FINAL[cjson.decode(answer).status] then
    redis.call('SET', IDEM, cjson.encode({ fp = IDEM_FP, answer = answer }), 'PX', IDEM_TTL)
  end
  return answer
end

-- Registration, for the step files scripts.rs appends after this prelude: a state change starts
-- with `begin` and runs under `idempotent`; a `look` is declared `no-writes`, so it still answers
-- when Redis is full and may run on a replica. A function that may write and is not declared
-- `allow-oom` is refused before it runs when Redis is over `maxmemory`: "full", never half done.
local function change(name, step)
  redis.register_function(name, function(keys, args)
    begin(keys, args)
    return idempotent(step)
  end)
end

-- A read of the envs named in ARGV[1], seen as a change sees them (`begin`: NOW, ENVS and their
-- calendar windows) but declared `no-writes`: it answers while Redis is full (see look.lua).
local function look(name, body)
  redis.register_function({ function_name = name, flags = { 'no-writes' },
    callback = function(keys, args)
      begin(keys, args)
      return body()
    end })
end

-- A read that Redis treats as a possible write: refused ("full") when Redis is at `maxmemory`
-- like every change, so the readiness probe that runs it says whether Baton could write now.
local function probe(name, body)
  redis.register_function(name, function(keys, args)
    KEYS, ARGV = keys, args
    return body()
  end)
end
