-- settle / status: apply due expiries and hand-offs on every env named in ARGV[1], and report
-- each env's state (used by the expiry sweeper and by `status`).
local out = {}
for i, e in ipairs(ENVS) do
  local lock, claim, freeze = settle(e)
  out[i] = { env = e.name, lock = view(lock), claim = view(claim), freeze = freeze,
             queue = queue_view(e), deploy = hash_read(e.deploy) }
end
return cjson.encode({ status = 'ok', now = NOW, envs = out })
