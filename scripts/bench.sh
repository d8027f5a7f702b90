#!/usr/bin/env bash
# Reproduces the README's performance figures: a throwaway redis-server, `baton serve` (release
# build) against it, `baton bench` through the HTTP API with `baton serve`'s CPU per request (the
# lock run also runs redis-benchmark on Baton's lock function and on a minimal lock script at the
# same concurrency, and both on known envs locked and released), the deploy gate, issue 26's
# pairs (Baton's HTTP API beside a bare HTTP service making the same Redis call; a refusal with
# nobody and with 500 in line, and beside the minimal informative refusal; the grant path beside
# the minimal lock; what idle CI waiters cost Redis and `baton serve`'s memory, by how many
# wait), then `baton bench --idle` for 100 and 1,000 envs on 1 and 3 instances. Everything runs
# on loopback and stops by itself.
#
#   scripts/bench.sh [concurrency] [duration]        e.g. scripts/bench.sh 16 10s
set -euo pipefail
cd "$(dirname "$0")/.."
concurrency=${1:-16}
duration=${2:-10s}
work=$(mktemp -d)
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
http_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() { kill "${baton_pid:-}" 2>/dev/null || true; redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --quiet --bin baton
baton=target/release/baton
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize yes --logfile "$work/redis.log"
token="baton_bench_$(od -An -tx8 -N16 /dev/urandom | tr -d ' \n')"
envs=$(seq -f 'bench-%g' 1 "$concurrency" | paste -sd, -)
{
  echo "[redis]"; echo "url = \"redis://127.0.0.1:$redis_port\""
  echo "[defaults]"; echo 'queue_limit = 1000'
  # Up to 1,000 waiting requests, each on a connection of its own, all from this one address.
  echo "[server]"; echo 'max_connections_per_address = 2048'
  for e in ${envs//,/ }; do echo "[[envs]]"; echo "name = \"$e\""; done
  echo "[[envs]]"; echo 'name = "contended"'
  echo "[[envs]]"; echo 'name = "held"'
  echo "[[envs]]"; echo 'name = "waiting"'
  echo "[[ci.tokens]]"; echo 'name = "bench"'; echo "sha256 = \"$(printf %s "$token" | sha256sum | cut -d' ' -f1)\""; echo 'envs = ["*"]'
} > "$work/bench.toml"
"$baton" serve --config "$work/bench.toml" --listen "127.0.0.1:$http_port" 2>"$work/baton.log" &
baton_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break; sleep 0.1; done

echo "== $(nproc) cores, $(redis-server --version | cut -d' ' -f3), Baton release build, loopback, load average $(cut -d' ' -f1 /proc/loadavg) before the run"
echo
echo "== lock/unlock cycles, one env per worker (no contention)"
"$baton" bench --url "http://127.0.0.1:$http_port" --token "$token" --redis "redis://127.0.0.1:$redis_port" \
  --envs "$envs" --concurrency "$concurrency" --duration "$duration" --pid "$baton_pid" | tee "$work/bench1.txt"
echo
echo "== every worker on one env (contention: most answers are 423 locked)"
"$baton" bench --url "http://127.0.0.1:$http_port" --token "$token" --redis "redis://127.0.0.1:$redis_port" \
  --envs contended --concurrency "$concurrency" --duration "$duration" --pid "$baton_pid"
echo
echo "== the deploy gate (GET /api/v1/gate, a read), one env per worker"
"$baton" bench --url "http://127.0.0.1:$http_port" --token "$token" \
  --envs "$envs" --concurrency "$concurrency" --duration "$duration" --pid "$baton_pid" --gate
echo "== memory after the three throughput runs"
echo "  baton serve   peak RSS $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$baton_pid/status), now $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$baton_pid/status), of which heap and stacks $(awk '/RssAnon/ {printf "%.1f MiB", $2/1024}' /proc/$baton_pid/status)"
echo
# redis-benchmark's fresh locks above leave keys behind: the pairs start on an empty Redis (Baton
# loads its functions again by itself), so none of that is in their figures.
redis-cli -p "$redis_port" flushall >/dev/null
bench() { "$baton" bench --url "http://127.0.0.1:$http_port" --token "$token" --redis "redis://127.0.0.1:$redis_port" "$@"; }
echo "== pair: HTTP, Baton's API ÷ the thinnest service in front of the same call (a refused lock: the env is held)"
bench --floor --envs held --concurrency "$concurrency" --duration "$duration" --pid "$baton_pid"
echo
echo "== pair: a refused lock with nobody in line vs 500 waiting, and Baton's refusal vs the minimal informative refusal"
"$baton" bench --refused --queued 500 --redis "redis://127.0.0.1:$redis_port" --concurrency "$concurrency"
echo
echo "== pair: the grant path, Baton's lock function vs the minimal lock (from the first run above)"
sed -n '/^redis-benchmark in the same run/,$p' "$work/bench1.txt"
echo
echo "== pair: idle CI waiters, what waiting costs Redis by how many wait"
bench --waiters 10,100,500,1000 --envs waiting --duration "$duration" --pid "$baton_pid"
echo
echo "== memory after all of the above (up to 1,000 waiting requests, each on a connection of its own)"
echo "  baton serve   peak RSS $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$baton_pid/status), now $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$baton_pid/status), of which heap and stacks $(awk '/RssAnon/ {printf "%.1f MiB", $2/1024}' /proc/$baton_pid/status) (the rest is Baton's code, mapped from its file)"
echo
# Idle: no load instance, an empty Redis; `baton bench --idle` starts its own instances.
kill "$baton_pid" 2>/dev/null || true; wait "$baton_pid" 2>/dev/null || true; baton_pid=
redis-cli -p "$redis_port" flushall >/dev/null
for shape in "100 1" "1000 1" "1000 3" "100 3"; do
  set -- $shape
  echo "== idle: $1 envs, $2 instance(s)"
  "$baton" bench --idle --redis "redis://127.0.0.1:$redis_port" --envs "$1" --instances "$2" --duration "$duration"
  redis-cli -p "$redis_port" flushall >/dev/null
  echo
done
