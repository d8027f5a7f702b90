-- admin kick: delete the session and announce it in one step, so no pod can see the session gone
-- without the announcement (or the other way round).
-- KEYS[1] the session key. ARGV[1] channel ('' for none), ARGV[2] user id, ARGV[3] who kicked.
-- Returns {existed (0|1), fingerprint, subscribers reached (-1 when nothing was published)}.
local key = KEYS[1]
local kind = redis.call('TYPE', key)['ok']
if kind == 'none' then return {0, '', -1} end
local fingerprint = session_fingerprint(key, kind)
redis.call('DEL', key)
local reached = -1
if ARGV[1] ~= '' then
  local t = redis.call('TIME')
  local at = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  reached = redis.call('PUBLISH', ARGV[1], cjson.encode({
    event = 'session_kicked', user = ARGV[2], key = key, by = ARGV[3], at = at,
  }))
end
return {1, fingerprint, reached}
