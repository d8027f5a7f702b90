-- leave_set: a set waiter leaves every line of its set at once (`leave a,b`, or a waiting CI
-- request's clean-up, which leaves only its own entry: by token). Each env it kept free goes on
-- to whoever waits next.
-- ARGV[5] holder  [6] token ('' : any)
local holder, token = ARGV[5], ARGV[6] or ''
local names = {}
for i, e in ipairs(ENVS) do names[i] = e.name end
local set = table.concat(names, ',')
local found = {}
for i, e in ipairs(ENVS) do
  settle(e)
  local w = queue_len(e) > 0 and waiter_get(e, holder)
  if w and w.set == set and (token == '' or w.token == token) then found[i] = w end
end
if next(found) == nil then
  return cjson.encode({ status = 'not_queued', now = digits(NOW) })
end
for i, e in ipairs(ENVS) do
  local w = found[i]
  if w then
    queue_remove(e, holder)
    redis.call('ZREM', e.deadlines, 'set:' .. e.name)
    record(e, { kind = 'left_queue', holder = holder, display = w.display, reason = 'left',
                set = set })
  end
end
for _, e in ipairs(ENVS) do settle(e) end
return cjson.encode({ status = 'ok', now = digits(NOW) })
