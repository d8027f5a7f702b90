-- admin leaderboard … around: a member's rank, the board's size and the member's neighbours in
-- one call, however large the board. Reads only.
-- KEYS[1] the board. ARGV[1] member, ARGV[2] 'desc' | 'asc', ARGV[3] neighbours on each side.
-- Returns {rank (0-based, -1 when absent), size, rank of the first entry, {member, score, ...}}.
local key, member, desc, radius = KEYS[1], ARGV[1], ARGV[2] == 'desc', tonumber(ARGV[3])
local rank
if desc then
  rank = redis.call('ZREVRANK', key, member)
else
  rank = redis.call('ZRANK', key, member)
end
local size = redis.call('ZCARD', key)
if not rank then return {-1, size, 0, {}} end
local first = math.max(0, rank - radius)
local range
if desc then
  range = redis.call('ZREVRANGE', key, first, rank + radius, 'WITHSCORES')
else
  range = redis.call('ZRANGE', key, first, rank + radius, 'WITHSCORES')
end
return {rank, size, first, range}
