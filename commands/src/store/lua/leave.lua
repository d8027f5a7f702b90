-- leave: take a waiter out of the env's queue: the caller itself, or (an admin rejecting a
-- waiting GitHub run) someone else, with who and why on the record.
-- ARGV[5] holder  [6] reason ('' : the waiter left)  [7] actor  [8] actor's display
-- ARGV[9] the entry's token ('' : any): a waiting request's clean-up leaves only its own entry,
--         never one a retry with the same key took over
local e = ENVS[1]
local holder, reason, actor, actor_display = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local token = ARGV[9] or ''
settle(e)
local w = e.qlen ~= 0 and waiter_get(e, holder)
-- A set waiter leaves all its lines together (leave_set.lua), never one of them.
if w and w.set then return cjson.encode({ status = 'in_set', now = NOW, set = w.set }) end
if w and (token == '' or w.token == token) then
  queue_remove(e, holder)
  local ev = { kind = 'left_queue', holder = holder, display = w.display, reason = 'left' }
  if reason ~= '' then
    ev.reason, ev.actor, ev.actor_display = reason, actor, actor_display
  end
  record(e, ev)
  return cjson.encode({ status = 'ok', now = NOW })
end
return cjson.encode({ status = 'not_queued', now = NOW })
