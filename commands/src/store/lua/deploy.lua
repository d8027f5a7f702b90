-- deploy: record a deploy on the env (its last-deploy hash) and in its history.
-- ARGV[5] actor  [6] display  [7] sha  [8] version  [9] url  [10] fence the deploy ran under ('' if none)
local e = ENVS[1]
local actor, display, sha, version, url, fence = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local lock = settle(e)
if fence ~= '' and (not lock or tostring(lock.fence) ~= fence) then
  return cjson.encode({ status = 'stale_fence', now = NOW, lock = view(lock) })
end
redis.call('DEL', e.deploy)
redis.call('HSET', e.deploy, 'sha', sha, 'version', version, 'url', url, 'by', actor, 'display', display, 'at', NOW)
record(e, { kind = 'deployed', actor = actor, display = display, sha = sha, version = version, url = url })
return cjson.encode({ status = 'ok', now = NOW })
