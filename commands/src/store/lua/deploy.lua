-- deploy: record a deploy on the env (its last-deploy hash) and in its history.
-- ARGV[4] actor  [5] display  [6] sha  [7] version  [8] url  [9] fence the deploy ran under ('' if none)
local e = ENVS[1]
local actor, display, sha, version, url, fence = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local lock = settle(e)
if fence ~= '' and (not lock or tostring(lock.fence) ~= fence) then
  return cjson.encode({ status = 'stale_fence', now = NOW, lock = view(lock) })
end
redis.call('DEL', e.deploy)
redis.call('HSET', e.deploy, 'sha', sha, 'version', version, 'url', url, 'by', actor, 'display', display, 'at', NOW)
record(e, { kind = 'deployed', actor = actor, display = display, sha = sha, version = version, url = url })
return cjson.encode({ status = 'ok', now = NOW })
