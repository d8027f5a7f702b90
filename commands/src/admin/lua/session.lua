-- Shared by `admin session` and `admin kick`: what a session looks like from outside, never its
-- value. The fingerprint is the first 8 hex digits of the SHA-1 (the hash Redis' Lua offers) of
-- the value (a string) or of its sorted `field=value` lines (a hash), computed here so the token
-- never leaves Redis.
local function session_fingerprint(key, kind)
  if kind == 'string' then
    return string.sub(redis.sha1hex(redis.call('GET', key)), 1, 8)
  elseif kind == 'hash' then
    local h = redis.call('HGETALL', key)
    local lines = {}
    for i = 1, #h, 2 do lines[#lines + 1] = h[i] .. '=' .. h[i + 1] end
    table.sort(lines)
    return string.sub(redis.sha1hex(table.concat(lines, '\n')), 1, 8)
  end
  return ''
end
