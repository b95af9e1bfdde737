#!/usr/bin/env bash
# Gateway benchmark: a router and 2 nodes of incident/chat-gateway in Docker
# (fd limit raised), driven by chat-sim on the host.
# Usage: [BENCH_PATH=proxy|direct] [BENCH_IMAGE=..] [BENCH_SIM=..] gateway/bench.sh CLIENTS [extra chat-sim flags]
#   BENCH_IMAGE / BENCH_SIM compare builds in one sitting (defaults: the
#   workspace's image and target/release/chat-sim).
#   proxy  (default) clients reach the containers through ports published on
#          127.0.0.1, i.e. through Docker's userland proxy, as the incidents do;
#   direct clients reach the containers at their addresses on the network
#          this script creates (the network rule allows both), which takes
#          docker-proxy (two extra sockets and a copy per connection) out of
#          the measurement.
# Everything it starts is labelled `bench=chat-gateway-<pid>` and removed at exit.
set -euo pipefail
CLIENTS=${1:-10000}; shift || true
BENCH_PATH=${BENCH_PATH:-proxy}
case "$BENCH_PATH" in proxy|direct) ;; *) echo "BENCH_PATH must be proxy or direct, not '$BENCH_PATH'" >&2; exit 2 ;; esac
NET=chat-bench-$$
IMG=${BENCH_IMAGE:-incident/chat-gateway:0.1.0}
SIM=${BENCH_SIM:-target/release/chat-sim}
SAMPLER= RSS_LOG=
# Runs on every exit; errexit off first, so one failing step (a sampler
# already gone) cannot skip the removals after it.
cleanup() {
  set +e
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
  [ -n "$RSS_LOG" ] && rm -f "$RSS_LOG"
  docker rm -f $(docker ps -aq --filter label=bench=chat-gateway-$$) >/dev/null 2>&1
  docker network rm $NET >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip_of() { docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$1"; }
T0=$(date +%s.%N)
docker network create --label bench=chat-gateway-$$ $NET >/dev/null
docker run -d --pull never --label bench=chat-gateway-$$ --network $NET --name $NET-consul --network-alias consul incident/consul:1.22.6 agent -dev -client=0.0.0.0 >/dev/null
for i in 1 2; do
  docker run -d --pull never --label bench=chat-gateway-$$ --network $NET --name $NET-node-$i --hostname node-$i --network-alias node-$i \
    --ulimit nofile=16384:16384 -p 127.0.0.1::8443 -p 127.0.0.1::8080 $IMG node --name node-$i --membership consul:consul:8500 --preset fixed --handshake-slots 256 --handshake-queue-timeout-ms 0 --fd-guard 0.95 >/dev/null
done
docker run -d --pull never --label bench=chat-gateway-$$ --network $NET --name $NET-router -p 127.0.0.1::8000 $IMG router --membership consul:consul:8500 --await-convergence >/dev/null
ROUTER=$(docker port $NET-router 8000 | head -1)
deadline=$((SECONDS + 120))
until curl -sf http://$ROUTER/metrics | grep -q '"converged":\["node-1","node-2"\]'; do
  [ $SECONDS -lt $deadline ] || { echo "the router did not see both nodes converged within 120 s" >&2; exit 1; }
  sleep 0.2
done
for i in 1 2; do
  if [ "$BENCH_PATH" = direct ]; then WS=$(ip_of $NET-node-$i):8443; else WS=$(docker port $NET-node-$i 8443 | head -1); fi
  curl -sf -XPOST -H 'content-type: application/json' -d "{\"node\":\"node-$i\",\"addr\":\"$WS\"}" http://$ROUTER/admin/public >/dev/null
done
if [ "$BENCH_PATH" = direct ]; then ROUTER=$(ip_of $NET-router):8000; fi
T1=$(date +%s.%N)
echo "cluster ready in $(echo "$T1 - $T0" | bc) s; clients reach it via $BENCH_PATH" >&2
# Memory: each node's RSS sampled every second from its metrics (the
# container address; the bench host reaches the network it created), and
# the simulator's peak RSS from time(1).
RSS_LOG=$(mktemp)
( while sleep 1; do for i in 1 2; do
    curl -sf "http://$(ip_of $NET-node-$i):8080/metrics" | grep -o '"rss_bytes":[0-9]*' | cut -d: -f2
  done; done > "$RSS_LOG" ) &
SAMPLER=$!
/usr/bin/time -f "chat-sim peak RSS %M KiB" "$SIM" --router "$ROUTER" --clients "$CLIENTS" "$@"
kill "$SAMPLER" 2>/dev/null || true
echo "peak node RSS $(sort -n "$RSS_LOG" | tail -1 | awk '{printf "%.0f", $1/1048576}') MiB" >&2
