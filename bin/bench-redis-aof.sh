#!/usr/bin/env bash
# The Redis-like sample's SET with appendfsync always, 50 connections, closed loop: the AOF on the
# kernel's file system against the AOF on Arrakis storage (storage.mount), alternating rounds in one
# run. Both servers run with the agent routing no network traffic (route=, loopback=false), so the
# only difference is where the AOF goes. Needs: the agent jar and samples' classes (mvn -pl agent -am package).
#   bin/bench-redis-aof.sh [file|io_uring] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-file}
ROUNDS=${2:-2}
source bin/jdk.sh
JAVA=$(find_jdk)/bin/java
AGENT=$PWD/agent/target/arrakis-agent.jar
CP=$PWD/samples/target/classes:$HOME/.m2/repository/org/hdrhistogram/HdrHistogram/2.2.2/HdrHistogram-2.2.2.jar
[ -f "$AGENT" ] || { echo "no $AGENT: run mvn -B -ntp -o -q -pl agent -am package -DskipTests" >&2; exit 1; }
ROOT=$(mktemp -d /tmp/redis-aof-bench.XXXX)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$ROOT"; }
trap cleanup EXIT

run() { # name port agent-arguments
    local name=$1 port=$2 agent=$3
    "$JAVA" -javaagent:"$AGENT=$agent" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xmx512m -cp "$CP" \
        io.arrakis.samples.redis.RedisServer --port "$port" --appendonly yes --appendfsync always \
        --dir "$ROOT/$name" > "$ROOT/$name.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 200); do grep -q "ready on" "$ROOT/$name.log" 2>/dev/null && break; sleep 0.1; done
    echo "== $name"
    "$JAVA" -XX:+UseSerialGC -cp "$CP" io.arrakis.samples.loadgen.LoadGenerator --port "$port" --connections 50 \
        --threads 1 --ratio 0:1 --warmup 3 --duration 10 --keys 10000 --no-prefill 2>&1 | grep "^SET\|^op"
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
    SERVER=
}

for round in $(seq "$ROUNDS"); do
    run "kernel-$round" $((16400 + round * 2)) "route=,loopback=false,banner=false"
    run "arrakis-$round" $((16401 + round * 2)) \
        "storage.mount=$ROOT/arrakis-$round,storage.size=512m,storage.backend=$BACKEND,route=,loopback=false,banner=false"
done
