#!/usr/bin/env bash
# bench/run.sh: Hubbub's benchmarks. Not part of CI.
#
# Builds the release workspace, then starts a fresh release hub on loopback
# (port 0, a temporary data directory) for each scenario, drives it with
# `firmware-sim`, prints every result as a JSON line and writes a table of
# the numbers into docs/benchmarks.md (its own marked part; the rest of the
# page is kept).
#
#   1. durable post rate      50 clients in 50 rooms, window 32
#   2. WebSocket fan-out      10 rooms x 10 clients, window 10
#   3. history latest-50      2,000 queries with 1,000,000 messages stored
#   4. memory                 RSS of a fresh hub, RSS per idle connection
#
# About 2 minutes on a 2-core machine once the build is done (the build
# takes 3 to 4 minutes from scratch). The load generator runs on the same
# machine and competes with the hub for CPU.
#
# Knobs (environment): POST_MESSAGES, FANOUT_MESSAGES, HISTORY_MESSAGES,
# HISTORY_QUERIES, IDLE_CONNECTIONS scale the scenarios; BENCH_NO_BUILD=1
# skips the build; HUBBUB_BIN and SIM_BIN point at other binaries;
# BENCH_DOC=path writes the table elsewhere (BENCH_DOC= writes none).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

POST_MESSAGES=${POST_MESSAGES:-4000}         # per client, scenario 1
FANOUT_MESSAGES=${FANOUT_MESSAGES:-2000}     # per client, scenario 2
HISTORY_MESSAGES=${HISTORY_MESSAGES:-1000000}
HISTORY_QUERIES=${HISTORY_QUERIES:-2000}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-1000}
BENCH_DOC=${BENCH_DOC-docs/benchmarks.md}
HISTORY_ROOMS=4

command -v jq >/dev/null || { echo "bench/run.sh: needs jq (apt-get install jq)" >&2; exit 2; }

if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
    echo "== cargo build --release --workspace" >&2
    cargo build --release --workspace
fi
HUBBUB=${HUBBUB_BIN:-$ROOT/target/release/hubbub}
SIM=${SIM_BIN:-$ROOT/target/release/firmware-sim}
[[ -x $HUBBUB && -x $SIM ]] || { echo "bench/run.sh: missing $HUBBUB or $SIM" >&2; exit 2; }

# Room for a thousand connections on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hubbub-bench.XXXXXX")
HUB_PID=""
HUB_ADDR=""
HUB_DIR=""
FAILED=()

stop_hub() {
    [[ -n $HUB_PID ]] || return 0
    kill -TERM "$HUB_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "$HUB_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
    HUB_PID=""
}

cleanup() {
    stop_hub
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_hub NAME: a fresh hub with its own data directory; sets HUB_PID,
# HUB_ADDR and HUB_DIR. Retention is off so that a million messages stay.
start_hub() {
    HUB_DIR=$WORK/$1
    mkdir -p "$HUB_DIR"
    cat >"$HUB_DIR/hubbub.toml" <<EOF
[hub]
id = "bench"
data_dir = "$HUB_DIR/data"

[http]
listen = "127.0.0.1:0"

[retention]
max_messages_per_room = 0
max_age_days = 0
EOF
    "$HUBBUB" --config "$HUB_DIR/hubbub.toml" 2>"$HUB_DIR/hub.log" &
    HUB_PID=$!
    HUB_ADDR=""
    local i
    for ((i = 0; i < 100; i++)); do
        HUB_ADDR=$(grep -m1 'listening' "$HUB_DIR/hub.log" 2>/dev/null |
            grep -o 'addr[^0-9]*127\.0\.0\.1:[0-9]*' | grep -o '127\.0\.0\.1:[0-9]*' || true)
        [[ -n $HUB_ADDR ]] && break
        if ! kill -0 "$HUB_PID" 2>/dev/null; then
            echo "bench/run.sh: the hub exited at start:" >&2
            cat "$HUB_DIR/hub.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [[ -z $HUB_ADDR ]]; then
        echo "bench/run.sh: no 'listening ... addr=127.0.0.1:PORT' line from the hub in 10 s:" >&2
        cat "$HUB_DIR/hub.log" >&2
        exit 1
    fi
    echo "== hub $1: pid $HUB_PID on $HUB_ADDR" >&2
}

# sim NAME ARGS...: runs firmware-sim, keeps its JSON line in $WORK/NAME.json
# and prints it; a run that measured a problem is noted, not fatal.
sim() {
    local name=$1
    shift
    echo "== $name: firmware-sim $*" >&2
    local rc=0
    "$SIM" "$@" >"$WORK/$name.json" || rc=$?
    if [[ $rc -ne 0 ]]; then
        FAILED+=("$name (exit $rc)")
        echo "!! $name: firmware-sim exited $rc" >&2
    fi
    [[ -s $WORK/$name.json ]] || echo '{}' >"$WORK/$name.json"
    echo "$name $(cat "$WORK/$name.json")"
}

# get NAME JQ-PATH: one number from a result ("n/a" if absent).
get() {
    jq -r "$1 // \"n/a\"" "$WORK/$2.json" 2>/dev/null || echo n/a
}

rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$HUB_PID/status"
}

started=$(date +%s)

# 4 first: memory of a fresh hub, then per idle connection.
start_hub idle
sleep 2
FRESH_RSS_KB=$(rss_kb)
echo "fresh_hub_rss_kb $FRESH_RSS_KB"
sim idle idle --hub "$HUB_ADDR" --hub-pid "$HUB_PID" \
    --connections "$IDLE_CONNECTIONS" --hold-secs 5
stop_hub

# 1. Durable post rate: every client alone in its room (its own receiver).
start_hub post
sim post load --hub "$HUB_ADDR" --hub-pid "$HUB_PID" \
    --clients 50 --rooms 50 --messages "$POST_MESSAGES" --window 32 --size 64 --timeout-secs 180
stop_hub

# 2. Fan-out: 10 rooms of 10 clients, every message stored, echoed to all 10.
start_hub fanout
sim fanout load --hub "$HUB_ADDR" --hub-pid "$HUB_PID" \
    --clients 100 --rooms 10 --messages "$FANOUT_MESSAGES" --window 10 --size 64 --timeout-secs 180
stop_hub

# 3. History: store HISTORY_MESSAGES over a few rooms, then read the latest 50.
start_hub history
sim populate load --hub "$HUB_ADDR" --hub-pid "$HUB_PID" --room-prefix hist \
    --clients "$HISTORY_ROOMS" --rooms "$HISTORY_ROOMS" \
    --messages $((HISTORY_MESSAGES / HISTORY_ROOMS)) --window 128 --size 64 --timeout-secs 420
sim history history-bench --hub "$HUB_ADDR" --room hist-0 --queries "$HISTORY_QUERIES" --limit 50
HISTORY_DATA=$(du -sh "$HUB_DIR/data" | cut -f1)
echo "history_data_dir $HISTORY_DATA"
stop_hub

elapsed=$(($(date +%s) - started))

post_rate=$(get .post_rate post)
post_p99=$(get .ack_latency_ms.p99 post)
fan_cpu=$(get .cpu_us_per_delivery fanout)
fan_p99=$(get .latency_ms.p99 fanout)
fan_tput=$(get .throughput fanout)
pop_rate=$(get .post_rate populate)
pop_stored=$(get .acked populate)
hist_p50=$(get .latency_ms.p50 history)
hist_p99=$(get .latency_ms.p99 history)
idle_per=$(get .rss_per_connection_bytes idle)
idle_n=$(get .opened idle)

echo
echo "durable post rate:        $post_rate acked posts/s (ack p99 $post_p99 ms)"
echo "fan-out 10x10:            $fan_cpu us hub CPU per delivery, p99 $fan_p99 ms, $fan_tput deliveries/s"
echo "history latest-50:        p50 $hist_p50 ms, p99 $hist_p99 ms ($pop_stored messages stored at $pop_rate posts/s)"
echo "fresh hub RSS:            $FRESH_RSS_KB KiB"
echo "RSS per idle connection:  $idle_per bytes ($idle_n connections)"
echo "total bench time:         ${elapsed}s"

# The page keeps whatever else it holds: only the part between the two
# markers below is this script's, and it is replaced (or appended).
BEGIN_MARK='<!-- bench/run.sh: begin (generated, do not edit by hand) -->'
END_MARK='<!-- bench/run.sh: end -->'
if [[ -n $BENCH_DOC ]]; then
    status="all runs clean"
    if [[ ${#FAILED[@]} -gt 0 ]]; then
        status="PROBLEMS in: ${FAILED[*]} (see the raw results)"
    fi
    block=$WORK/block.md
    {
        echo "$BEGIN_MARK"
        cat <<EOF
## Load benchmarks (\`bench/run.sh\`)

Written by \`bench/run.sh\`; rerun it to refresh this part. Each scenario
runs against a fresh release hub on loopback with its own data directory
and the default configuration except retention, which is off. The load
generator (\`firmware-sim\`) runs on the same machine and shares its CPUs.

| | |
| --- | --- |
| date | $(date -u '+%Y-%m-%d %H:%M UTC') |
| machine | $(uname -m), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)) |
| kernel | $(uname -r) |
| rustc | $(rustc --version 2>/dev/null || echo unknown) |
| result | $status |

### Results

| scenario | measure | value |
| --- | --- | --- |
| 1. durable post rate: 50 clients, each alone in its room, window 32, 64-byte texts, $POST_MESSAGES posts each | acknowledged (fdatasync'ed) posts per second | **$post_rate** |
| | ack latency p99 | $post_p99 ms |
| 2. WebSocket fan-out: 10 rooms x 10 clients, window 10, $FANOUT_MESSAGES posts each, every message stored | hub CPU per delivery | **$fan_cpu us** |
| | send-to-delivery latency p99 | $fan_p99 ms |
| | deliveries per second | $fan_tput |
| 3. history: latest 50 of a room, $HISTORY_QUERIES sequential \`GET /api/rooms/hist-0/messages?limit=50\` with $pop_stored messages stored ($HISTORY_ROOMS rooms, data dir $HISTORY_DATA) | latency p50 | **$hist_p50 ms** |
| | latency p99 | **$hist_p99 ms** |
| | rate while storing them | $pop_rate posts/s |
| 4. memory | RSS of a fresh, idle hub | **$FRESH_RSS_KB KiB** |
| | RSS per idle WebSocket connection ($idle_n connections, hello + join, one room) | **$idle_per bytes** |

### How to read these

- *Durable* means acknowledged after the group commit's \`fdatasync\`, so
  the post rate depends on the disk as much as on the CPU.
- CPU per delivery is the hub's user + system CPU time over the run
  (from \`/proc/PID/stat\`) divided by the messages delivered to clients;
  in scenario 2 that includes storing each message once per ten deliveries.
- Latencies are measured by the clients: the send time travels in the
  message text and is compared with the time of arrival.
- Every load run checks that each acknowledged message reached every
  member of its room exactly once and in seq order; a run that lost,
  duplicated or reordered anything is flagged above.

### Raw results

\`\`\`
EOF
        for n in idle post fanout populate history; do
            echo "$n $(cat "$WORK/$n.json")"
        done
        echo "fresh_hub_rss_kb $FRESH_RSS_KB"
        echo '```'
        echo "$END_MARK"
    } >"$block"
    mkdir -p "$(dirname "$BENCH_DOC")"
    if [[ -f $BENCH_DOC ]] && grep -qF "$BEGIN_MARK" "$BENCH_DOC"; then
        awk -v blockfile="$block" -v b="$BEGIN_MARK" -v e="$END_MARK" '
            $0 == b { while ((getline line < blockfile) > 0) print line; skip = 1; next }
            $0 == e { skip = 0; next }
            !skip { print }' "$BENCH_DOC" >"$WORK/doc.md"
    elif [[ -f $BENCH_DOC ]]; then
        { cat "$BENCH_DOC"; echo; cat "$block"; } >"$WORK/doc.md"
    else
        { printf '# Benchmarks\n\n'; cat "$block"; } >"$WORK/doc.md"
    fi
    cat "$WORK/doc.md" >"$BENCH_DOC"
    echo "wrote $BENCH_DOC" >&2
fi

if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "bench/run.sh: problems in: ${FAILED[*]}" >&2
    exit 1
fi
