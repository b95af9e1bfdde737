#!/usr/bin/env bash
# Gateway benchmark: a router and 2 nodes of incident/chat-gateway in Docker
# (fd limit raised), driven by chat-sim on the host through 127.0.0.1 only.
# Usage: gateway/bench.sh CLIENTS [extra chat-sim flags]
# Everything it starts is labelled `bench=chat-gateway` and removed at exit.
set -euo pipefail
CLIENTS=${1:-10000}; shift || true
NET=chat-bench-$$
IMG=incident/chat-gateway:0.1.0
cleanup() { docker rm -f $(docker ps -aq --filter label=bench=chat-gateway-$$) >/dev/null 2>&1 || true; docker network rm $NET >/dev/null 2>&1 || true; }
trap cleanup EXIT
T0=$(date +%s.%N)
docker network create $NET >/dev/null
docker run -d --label bench=chat-gateway-$$ --network $NET --name $NET-consul --network-alias consul incident/consul:1.22.6 agent -dev -client=0.0.0.0 >/dev/null
for i in 1 2; do
  docker run -d --label bench=chat-gateway-$$ --network $NET --name $NET-node-$i --hostname node-$i --network-alias node-$i \
    --ulimit nofile=16384:16384 -p 127.0.0.1::8443 -p 127.0.0.1::8080 $IMG node --name node-$i --membership consul:consul:8500 --preset fixed --handshake-slots 256 --handshake-queue-timeout-ms 0 --fd-guard 0.95 >/dev/null
done
docker run -d --label bench=chat-gateway-$$ --network $NET --name $NET-router -p 127.0.0.1::8000 $IMG router --membership consul:consul:8500 >/dev/null
ROUTER=$(docker port $NET-router 8000 | head -1)
until curl -sf http://$ROUTER/metrics | grep -q '"node-2"'; do sleep 0.2; done
for i in 1 2; do
  WS=$(docker port $NET-node-$i 8443 | head -1)
  curl -sf -XPOST -H 'content-type: application/json' -d "{\"node\":\"node-$i\",\"addr\":\"$WS\"}" http://$ROUTER/admin/public >/dev/null
done
T1=$(date +%s.%N)
echo "cluster ready in $(echo "$T1 - $T0" | bc) s" >&2
target/release/chat-sim --router "$ROUTER" --clients "$CLIENTS" "$@"
