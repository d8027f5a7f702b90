-- leave: take the caller out of the env's wait queue.
-- ARGV[5] holder
local e = ENVS[1]
local holder = ARGV[5]
settle(e)
for i, w in ipairs(queue_entries(e)) do
  if w.holder == holder then
    redis.call('LREM', e.queue, 1, w.raw)
    record(e, { kind = 'left_queue', holder = holder, display = w.display, reason = 'left' })
    return cjson.encode({ status = 'ok', now = NOW, position = i })
  end
end
return cjson.encode({ status = 'not_queued', now = NOW })
