#!/usr/bin/env bash
# bench/uplink.sh: the Redis uplink's benchmarks. Not part of CI.
#
# Starts a redis-server of its own on a free loopback port and two release
# hubs (A and B) linked through it, drives A with `firmware-sim load`, and
# reads B's history: a relayed message carries `origin_ts` (when A stored
# it) and `ts` (when B stored it), both from this machine's clock, so
# ts - origin_ts is the cross-hub latency, commit to commit.
#
#   1. latency     a steady LAT_RATE msg/s at A for LAT_MESSAGES; p50/p99 at B
#   2. throughput  A as fast as it takes posts, THRU_MESSAGES; rate at B
#   3. drain       Redis down, DRAIN_MESSAGES posted at A, Redis back: how
#                  long A's outbox takes to empty, and B to hold them all
#
# Prints one JSON line per scenario. With BENCH_DOC=path (default
# docs/benchmarks.md) it replaces only the "## Redis uplink" section of that
# file (other sections belong to bench/run.sh and others); BENCH_DOC= writes
# nothing. BENCH_NO_BUILD=1 skips the build; HUBBUB_BIN, SIM_BIN and
# REDIS_SERVER point at other binaries. Needs redis-server, jq and python3.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

LAT_RATE=${LAT_RATE:-500}
LAT_MESSAGES=${LAT_MESSAGES:-5000}
THRU_MESSAGES=${THRU_MESSAGES:-40000}
DRAIN_MESSAGES=${DRAIN_MESSAGES:-100000}
BENCH_DOC=${BENCH_DOC-docs/benchmarks.md}
REDIS=${REDIS_SERVER:-redis-server}

for tool in jq python3 "$REDIS"; do
    command -v "$tool" >/dev/null || { echo "bench/uplink.sh: needs $tool" >&2; exit 2; }
done
release_binaries bench/uplink.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hubbub-uplink-bench.XXXXXX")
REDIS_PID=""
REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
declare -A PID ADDR

cleanup() {
    local p
    for p in "${PID[@]}" $REDIS_PID; do
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PID[@]}" $REDIS_PID; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_redis() {
    "$REDIS" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$WORK" >>"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [[ $(python3 - "$REDIS_PORT" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"PING\r\n"); print(s.recv(7).decode().strip())
EOF
        ) == "+PONG" ]] && return 0
        sleep 0.1
    done
    echo "bench/uplink.sh: redis-server did not start:" >&2
    cat "$WORK/redis.log" >&2
    exit 1
}

kill_redis() {
    kill -KILL "$REDIS_PID"
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
}

# start_linked_hub NAME: a fresh release hub linked through the Redis.
start_linked_hub() {
    local dir=$WORK/$1
    mkdir -p "$dir"
    cat >"$dir/hubbub.toml" <<EOF
[hub]
id = "bench-$1"
data_dir = "$dir/data"

[http]
listen = "127.0.0.1:0"

[mqtt]
enabled = false

# The load generators post as fast as the hub acks, and the idle
# scenarios open thousands of connections from one address.
[limits]
messages_per_second = 0
max_connections = 100000
max_connections_per_address = 100000

[retention]
max_messages_per_room = 0
max_age_days = 0

[uplink]
redis_url = "redis://127.0.0.1:$REDIS_PORT/"
outbox_max_messages = 1000000
outbox_max_bytes = 1073741824
stream_maxlen = 1000000
EOF
    "$HUBBUB" --config "$dir/hubbub.toml" 2>"$dir/hub.log" &
    PID[$1]=$!
    local i addr=""
    for ((i = 0; i < 100; i++)); do
        addr=$(grep -m1 'transport=http' "$dir/hub.log" 2>/dev/null |
            grep -o '127\.0\.0\.1:[0-9]*' || true)
        [[ -n $addr ]] && break
        sleep 0.1
    done
    [[ -n $addr ]] || { echo "bench/uplink.sh: hub $1 did not start:" >&2; cat "$dir/hub.log" >&2; exit 1; }
    ADDR[$1]=$addr
    echo "== hub $1: pid ${PID[$1]} on $addr" >&2
}

# count HUB ROOM: messages in a room (its last seq), 0 if it does not exist.
count() {
    curl -sf "http://${ADDR[$1]}/api/rooms" |
        jq -r --arg r "$2" '[.rooms[] | select(.name == $r) | .last_seq] | add // 0'
}

# wait_count HUB N ROOMS...: waits until the rooms hold N messages in all.
wait_count() {
    local hub=$1 want=$2 i total room
    shift 2
    for ((i = 0; i < 6000; i++)); do
        total=0
        for room in "$@"; do
            total=$((total + $(count "$hub" "$room")))
        done
        ((total >= want)) && return 0
        sleep 0.05
    done
    echo "bench/uplink.sh: hub $hub holds $total of $want messages" >&2
    exit 1
}

outbox() {
    curl -sf "http://${ADDR[$1]}/api/uplink" | jq -r '.outbox.messages'
}

# lag_stats HUB ROOM...: p50/p99/max of ts - origin_ts over the rooms' relayed messages.
lag_stats() {
    local hub=$1 room after
    shift
    : >"$WORK/lag.jsonl"
    for room in "$@"; do
        after=0
        while :; do
            curl -sf "http://${ADDR[$hub]}/api/rooms/$room/messages?after=$after&limit=500" >"$WORK/page.json"
            jq -c '.messages[] | select(.origin_ts and .text != "warm-up") | [.ts, .origin_ts]' "$WORK/page.json" >>"$WORK/lag.jsonl"
            [[ $(jq '.messages | length' "$WORK/page.json") -lt 500 ]] && break
            after=$(jq '.messages[-1].seq' "$WORK/page.json")
        done
    done
    python3 - "$WORK/lag.jsonl" <<'EOF'
import json, sys
from datetime import datetime
def ms(t): return datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000
lags = sorted(ms(a) - ms(b) for a, b in map(json.loads, open(sys.argv[1])))
q = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))]
print(json.dumps({"count": len(lags), "p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": lags[-1]}))
EOF
}

# warm HUB ROOM...: one message in each room at A, waited for at B, so that
# B has discovered the rooms (up to 1 s) before a scenario is timed. The
# warm-up messages are left out of the counts below.
warm() {
    local room
    for room in "$@"; do
        curl -sf -o /dev/null -d warm-up "http://${ADDR[a]}/api/rooms/$room/messages"
    done
    for room in "$@"; do
        wait_count b 1 "$room"
    done
}

now() { date +%s.%N; }
secs() { python3 -c "print(round($2 - $1, 3))"; }

start_redis
start_linked_hub a
start_linked_hub b

echo "== 1. latency: $LAT_MESSAGES messages at $LAT_RATE/s" >&2
warm lat-0
"$SIM" load --hub "${ADDR[a]}" --clients 10 --rooms 1 --room-prefix lat \
    --messages $((LAT_MESSAGES / 10)) --rate "$LAT_RATE" >"$WORK/lat-load.json"
wait_count b $((LAT_MESSAGES + 1)) lat-0
LAT=$(lag_stats b lat-0)
echo "latency $LAT"

echo "== 2. throughput: $THRU_MESSAGES messages, as fast as A takes them" >&2
warm thru-0 thru-1 thru-2 thru-3
t0=$(now)
"$SIM" load --hub "${ADDR[a]}" --clients 40 --rooms 4 --room-prefix thru \
    --messages $((THRU_MESSAGES / 40)) --window 32 >"$WORK/thru-load.json"
t_posted=$(now)
wait_count b $((THRU_MESSAGES + 4)) thru-0 thru-1 thru-2 thru-3
t1=$(now)
THRU_LAG=$(lag_stats b thru-0 thru-1 thru-2 thru-3)
THRU=$(jq -nc --argjson n "$THRU_MESSAGES" --argjson post "$(secs "$t0" "$t_posted")" \
    --argjson all "$(secs "$t0" "$t1")" --argjson lag "$THRU_LAG" \
    '{messages: $n, posted_s: $post, at_b_s: $all, rate_at_b: ($n / $all | floor), lag: $lag}')
echo "throughput $THRU"

echo "== 3. drain: $DRAIN_MESSAGES messages posted while Redis is down" >&2
warm drain-{0..9}
kill_redis
"$SIM" load --hub "${ADDR[a]}" --clients 20 --rooms 10 --room-prefix drain \
    --messages $((DRAIN_MESSAGES / 20)) --window 32 --timeout-secs 600 >"$WORK/drain-load.json"
DEPTH=$(outbox a)
start_redis
t0=$(now)
while [[ $(outbox a) != 0 ]]; do sleep 0.02; done
t_sent=$(now)
wait_count b $((DRAIN_MESSAGES + 10)) drain-{0..9}
t_all=$(now)
DRAIN=$(jq -nc --argjson depth "$DEPTH" --argjson sent "$(secs "$t0" "$t_sent")" \
    --argjson all "$(secs "$t0" "$t_all")" \
    '{outbox: $depth, drained_s: $sent, drain_rate: ($depth / $sent | floor), at_b_s: $all, rate_at_b: ($depth / $all | floor)}')
echo "drain $DRAIN"

if [[ -n $BENCH_DOC ]]; then
    section=$WORK/section.md
    {
        echo "## Redis uplink"
        echo
        echo "\`bench/uplink.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, release build,"
        echo "Redis $("$REDIS" --version | grep -o 'v=[0-9.]*' | cut -c3-), two hubs and the load"
        echo "generator on one machine. Latency is B's \`ts\` minus \`origin_ts\` (A's"
        echo "commit to B's commit: A's group commit, the outbox, XADD, XREAD, B's group commit),"
        echo "with every room already known to B (a room's first message waits up to 1 s more,"
        echo "until B's next look at \`hubbub:rooms\`)."
        echo
        echo "| scenario | result |"
        echo "| --- | --- |"
        echo "| cross-hub latency at $LAT_RATE msg/s ($(jq .count <<<"$LAT") messages) | p50 $(jq .p50_ms <<<"$LAT") ms, p99 $(jq .p99_ms <<<"$LAT") ms, max $(jq .max_ms <<<"$LAT") ms |"
        echo "| throughput, $THRU_MESSAGES messages in 4 rooms as fast as A takes them | A took them in $(jq .posted_s <<<"$THRU") s; all at B after $(jq .at_b_s <<<"$THRU") s = $(jq .rate_at_b <<<"$THRU") msg/s; latency p50 $(jq .lag.p50_ms <<<"$THRU") ms, p99 $(jq .lag.p99_ms <<<"$THRU") ms |"
        echo "| drain after an outage: $(jq .outbox <<<"$DRAIN") messages in A's outbox (10 rooms) | outbox empty $(jq .drained_s <<<"$DRAIN") s after Redis is back ($(jq .drain_rate <<<"$DRAIN") msg/s); all stored at B after $(jq .at_b_s <<<"$DRAIN") s ($(jq .rate_at_b <<<"$DRAIN") msg/s) |"
    } >"$section"
    touch "$BENCH_DOC"
    python3 - "$BENCH_DOC" "$section" <<'EOF'
import re, sys
doc, section = open(sys.argv[1]).read(), open(sys.argv[2]).read()
pattern = re.compile(r"^## Redis uplink\n.*?(?=^## |^<!-- |\Z)", re.S | re.M)
if pattern.search(doc):
    doc = pattern.sub(lambda _: section + "\n", doc)
else:
    doc = doc.rstrip("\n") + ("\n\n" if doc.strip() else "") + section
open(sys.argv[1], "w").write(doc)
EOF
    echo "wrote the Redis uplink section of $BENCH_DOC" >&2
fi
