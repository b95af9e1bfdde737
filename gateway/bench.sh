#!/usr/bin/env bash
# Gateway benchmark: a router and 2 nodes of incident/chat-gateway in Docker
# (fd limit raised), driven by chat-sim on the host.
# Usage: [BENCH_PATH=proxy|direct|host] [BENCH_IMAGE=..] [BENCH_SIM=..] gateway/bench.sh CLIENTS [extra chat-sim flags]
#   BENCH_IMAGE / BENCH_SIM compare builds in one sitting (defaults: the
#   workspace's image and target/release/chat-sim).
#   proxy  (default) clients reach the containers through ports published on
#          127.0.0.1, i.e. through Docker's userland proxy, as the incidents do;
#   direct clients reach the containers at their addresses on the network
#          this script creates (the network rule allows both), which takes
#          docker-proxy (two extra sockets and a copy per connection) out of
#          the measurement;
#   host   the router and nodes share the host's network namespace and
#          listen on 127.0.0.1 only (static membership, no Consul), which
#          takes Docker's bridge (veth, bridge netfilter) out as well.
# BENCH_PIN=1 pins the gateway's containers (nodes, router, Consul) to CPU 1
# and the simulator to CPU 0: each side's rate on one dedicated core.
# BENCH_LOGS=DIR keeps every container's log there.
# Everything it starts is labelled `bench=chat-gateway-<pid>` and removed at exit.
set -euo pipefail
CLIENTS=${1:-10000}; shift || true
BENCH_PATH=${BENCH_PATH:-proxy}
case "$BENCH_PATH" in proxy|direct|host) ;; *) echo "BENCH_PATH must be proxy, direct or host, not '$BENCH_PATH'" >&2; exit 2 ;; esac
NET=chat-bench-$$
IMG=${BENCH_IMAGE:-incident/chat-gateway:0.1.0}
SIM=${BENCH_SIM:-target/release/chat-sim}
SAMPLER= RSS_LOG=
# Runs on every exit; errexit off first, so one failing step (a sampler
# already gone) cannot skip the removals after it.
cleanup() {
  set +e
  if [ -n "${BENCH_LOGS:-}" ]; then
    mkdir -p "$BENCH_LOGS"
    for c in $(docker ps -aq --filter label=bench=chat-gateway-$$); do
      docker logs "$c" > "$BENCH_LOGS/$(docker inspect -f '{{.Name}}' "$c" | tr -d /).log" 2>&1
    done
  fi
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
  [ -n "$RSS_LOG" ] && rm -f "$RSS_LOG"
  docker rm -f $(docker ps -aq --filter label=bench=chat-gateway-$$) >/dev/null 2>&1
  docker network rm $NET >/dev/null 2>&1 # absent on the host path
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip_of() { docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$1"; }
T0=$(date +%s.%N)
PIN=() SIM_PIN=()
if [ "${BENCH_PIN:-0}" = 1 ]; then PIN=(--cpuset-cpus 1) SIM_PIN=(taskset -c 0); fi
# Every container: labelled for the cleanup, never pulled, pinned if asked.
drun() { docker run -d --pull never "${PIN[@]}" --label bench=chat-gateway-$$ "$@" >/dev/null; }
NODE_FLAGS="--preset fixed --handshake-slots 256 --handshake-queue-timeout-ms 0 --fd-guard 0.95"
if [ "$BENCH_PATH" = host ]; then
  # One block of ports per run, below the ephemeral range (32768-60999):
  # node i's RPC, metrics and WebSocket ports, then the router's.
  P=$((20000 + ($$ % 1000) * 10))
  for p in $(seq $P $((P + 6))); do
    if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p on this host is taken; run again" >&2; exit 1; fi
  done
  port() { echo $((P + 3 * ($1 - 1) + $2)); } # node, 0 rpc | 1 metrics | 2 ws
  MEMBERS=static:
  for i in 1 2; do MEMBERS+="node-$i=127.0.0.1:$(port $i 0)|127.0.0.1:$(port $i 1)|127.0.0.1:$(port $i 2),"; done
  for i in 1 2; do
    drun --network host --name $NET-node-$i --ulimit nofile=16384:16384 \
      $IMG node --name node-$i --bind 127.0.0.1 --rpc-port $(port $i 0) --http-port $(port $i 1) --ws-port $(port $i 2) \
      --advertise-rpc 127.0.0.1:$(port $i 0) --membership "$MEMBERS" $NODE_FLAGS
  done
  ROUTER=127.0.0.1:$((P + 6))
  drun --network host --name $NET-router $IMG router --listen $ROUTER --membership "$MEMBERS" --await-convergence
  metrics_of() { echo "127.0.0.1:$(port $1 1)"; }
else
  docker network create --label bench=chat-gateway-$$ $NET >/dev/null
  drun --network $NET --name $NET-consul --network-alias consul incident/consul:1.22.6 agent -dev -client=0.0.0.0
  for i in 1 2; do
    drun --network $NET --name $NET-node-$i --hostname node-$i --network-alias node-$i \
      --ulimit nofile=16384:16384 -p 127.0.0.1::8443 -p 127.0.0.1::8080 $IMG node --name node-$i --membership consul:consul:8500 $NODE_FLAGS
  done
  drun --network $NET --name $NET-router -p 127.0.0.1::8000 $IMG router --membership consul:consul:8500 --await-convergence
  ROUTER=$(docker port $NET-router 8000 | head -1)
  # The bench host reaches the network it created.
  metrics_of() { echo "$(ip_of $NET-node-$1):8080"; }
fi
deadline=$((SECONDS + 120))
until curl -sf http://$ROUTER/metrics | grep -q '"converged":\["node-1","node-2"\]'; do
  [ $SECONDS -lt $deadline ] || { echo "the router did not see both nodes converged within 120 s" >&2; exit 1; }
  sleep 0.2
done
if [ "$BENCH_PATH" != host ]; then
  for i in 1 2; do
    if [ "$BENCH_PATH" = direct ]; then WS=$(ip_of $NET-node-$i):8443; else WS=$(docker port $NET-node-$i 8443 | head -1); fi
    curl -sf -XPOST -H 'content-type: application/json' -d "{\"node\":\"node-$i\",\"addr\":\"$WS\"}" http://$ROUTER/admin/public >/dev/null
  done
  if [ "$BENCH_PATH" = direct ]; then ROUTER=$(ip_of $NET-router):8000; fi
fi
T1=$(date +%s.%N)
echo "cluster ready in $(echo "$T1 - $T0" | bc) s; clients reach it via $BENCH_PATH" >&2
# Memory: each node's RSS sampled every second from its metrics, and the
# simulator's peak RSS from time(1).
RSS_LOG=$(mktemp)
( while sleep 1; do for i in 1 2; do
    curl -sf "http://$(metrics_of $i)/metrics" | grep -o '"rss_bytes":[0-9]*' | cut -d: -f2
  done; done > "$RSS_LOG" ) &
SAMPLER=$!
# CPU per connect and reconnect: the simulator's and the gateway's (both
# nodes and the router, by their host PIDs), if the simulator build can.
ACCOUNT=()
if "$SIM" --help | grep -q -- --account-pids; then
  ACCOUNT=(--account-pids "$(docker inspect -f '{{.State.Pid}}' $NET-node-1 $NET-node-2 $NET-router | paste -sd,)")
fi
"${SIM_PIN[@]}" /usr/bin/time -f "chat-sim peak RSS %M KiB" "$SIM" --router "$ROUTER" --clients "$CLIENTS" "${ACCOUNT[@]}" "$@"
kill "$SAMPLER" 2>/dev/null || true
echo "peak node RSS $(sort -n "$RSS_LOG" | tail -1 | awk '{printf "%.0f", $1/1048576}') MiB" >&2
