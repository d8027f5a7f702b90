#!/usr/bin/env bash
# Reproduces the README's "holding up at the edges" figures, against a release build on loopback:
#   1. slowloris: 500 connections send request headers one byte a second for 30 s while
#      `baton bench` runs normal lock/unlock cycles; prints the bench's latency percentiles and
#      when the server closed the slow connections;
#   2. memory with nobody scraping /metrics: `baton bench` for 5 minutes, RSS sampled every
#      10 s; prints the samples and the spread after the first minute.
# Everything stops by itself.
#
#   scripts/edges.sh [slowloris|memory|all]     (default all; memory takes 5 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
http_port=$(free_port)
cleanup() { kill "${baton_pid:-}" 2>/dev/null || true; redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --quiet --bin baton
baton=target/release/baton
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" --daemonize yes --logfile "$work/redis.log"
token="baton_bench_$(od -An -tx8 -N16 /dev/urandom | tr -d ' \n')"
{
  echo "[redis]"; echo "url = \"redis://127.0.0.1:$redis_port\""
  for e in 1 2 3 4; do echo "[[envs]]"; echo "name = \"bench-$e\""; done
  echo "[[ci.tokens]]"; echo 'name = "bench"'; echo "sha256 = \"$(printf %s "$token" | sha256sum | cut -d' ' -f1)\""; echo 'envs = ["*"]'
} > "$work/edges.toml"
"$baton" serve --config "$work/edges.toml" --listen "127.0.0.1:$http_port" 2>"$work/baton.log" &
baton_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null && break; sleep 0.1; done
bench() { "$baton" bench --url "http://127.0.0.1:$http_port" --token "$token" --envs bench-1,bench-2,bench-3,bench-4 "$@"; }
echo "== $(nproc) cores, $(redis-server --version | cut -d' ' -f3), Baton release build (server.header_timeout 10s), loopback"

if [[ $what == slowloris || $what == all ]]; then
  echo
  echo "== 500 connections sending headers one byte a second for 30 s, normal requests meanwhile"
  python3 - "$http_port" > "$work/slow.txt" <<'PY' &
import socket, sys, time
port, n, run = int(sys.argv[1]), 500, 30.0
start = time.monotonic()
socks, closed = [], {}
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port)); s.setblocking(False); socks.append(s)
head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
sent = 0
while time.monotonic() - start < run:
    for i, s in enumerate(socks):
        if i in closed: continue
        try:
            s.send(head[sent:sent + 1] if sent < len(head) else b"a")
            try:
                if s.recv(4096) == b"": closed[i] = time.monotonic() - start
            except BlockingIOError: pass
        except OSError:
            closed[i] = time.monotonic() - start
    sent += 1
    time.sleep(1.0)
times = sorted(closed.values())
print(f"  slow clients  {len(times)} of {n} closed by the server", end="")
print(f", the first after {times[0]:.1f} s, the last after {times[-1]:.1f} s" if times else "")
PY
  slow_pid=$!
  sleep 2   # every slow connection is open before the measured requests start
  bench --concurrency 4 --duration 26s | grep -E 'requests|latency|statuses'
  wait "$slow_pid"
  cat "$work/slow.txt"
fi

if [[ $what == memory || $what == all ]]; then
  echo
  echo "== 5 minutes of lock/unlock cycles, nobody scraping /metrics; RSS every 10 s (MiB)"
  bench --concurrency 4 --duration 300s > "$work/mem-bench.txt" &
  bench_pid=$!
  samples=()
  for i in $(seq 1 30); do
    sleep 10
    samples+=("$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$baton_pid/status)")
  done
  wait "$bench_pid"
  grep -E 'requests' "$work/mem-bench.txt"
  echo "  rss           ${samples[*]}"
  printf '%s\n' "${samples[@]:5}" | sort -n | awk 'NR==1 {min=$1} {max=$1} END {printf "  after 1 min   min %.1f, max %.1f, spread %.1f MiB\n", min, max, max-min}'
fi
