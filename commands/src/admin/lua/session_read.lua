-- admin session: reads only. KEYS[1] the session key.
-- Returns {exists (0|1), type, PTTL ms, idle seconds (-1 when unknown), fingerprint, size}.
local key = KEYS[1]
local kind = redis.call('TYPE', key)['ok']
if kind == 'none' then return {0, 'none', -2, -1, '', 0} end
-- Before the reads below, which count as a use of the key. Fails under an LFU eviction policy.
local idle = redis.pcall('OBJECT', 'IDLETIME', key)
if type(idle) ~= 'number' then idle = -1 end
local size = 0
if kind == 'string' then
  size = redis.call('STRLEN', key)
elseif kind == 'hash' then
  size = redis.call('HLEN', key)
end
return {1, kind, redis.call('PTTL', key), idle, session_fingerprint(key, kind), size}
