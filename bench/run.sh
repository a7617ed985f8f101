#!/usr/bin/env bash
# bench/run.sh: Hubbub's benchmarks. Not part of CI.
#
# Builds the release workspace, then starts a fresh release hub on loopback
# (port 0, a temporary data directory) for each scenario, drives it with
# `firmware-sim`, prints every result as a JSON line and writes a table of
# the numbers into docs/benchmarks.md (its own marked part; the rest of the
# page is kept). Then it runs bench/mqtt.sh: the hub's MQTT broker against
# Debian's mosquitto, which writes its own part of the page.
#
#   1. durable post rate      50 clients in 50 rooms, window 32
#   2. WebSocket fan-out      10 rooms x 10 clients, window 10
#   3. one big room           1 room x 200 WebSocket clients, 1,000 posts/s
#   4. history latest-50      2,000 queries with 1,000,000 messages stored
#   5. memory                 RSS of a fresh hub, RSS per idle connection
#   (bench/mqtt.sh)           MQTT QoS 0/1 fan-out and 1,000 idle devices,
#                             hub and mosquitto
#
# About 5 minutes on a 2-core machine once the build is done (the build
# takes 3 to 5 minutes from scratch). The load generator runs on the same
# machine and competes with the hub for CPU.
#
# Knobs (environment): POST_MESSAGES, FANOUT_MESSAGES, BIG_ROOM_MESSAGES, BIG_ROOM_RATE,
# HISTORY_MESSAGES, HISTORY_QUERIES, IDLE_CONNECTIONS scale the scenarios
# (MQTT_FANOUT_MESSAGES and IDLE_DEVICES those of bench/mqtt.sh);
# BENCH_MQTT=0 skips bench/mqtt.sh; BENCH_NO_BUILD=1 skips the build;
# HUBBUB_BIN and SIM_BIN point at other binaries; BENCH_DOC=path writes the
# tables elsewhere (BENCH_DOC= writes none).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

POST_MESSAGES=${POST_MESSAGES:-4000}         # per client, scenario 1
FANOUT_MESSAGES=${FANOUT_MESSAGES:-2000}     # per client, scenario 2
BIG_ROOM_MESSAGES=${BIG_ROOM_MESSAGES:-50}   # per client, scenario 3
BIG_ROOM_RATE=${BIG_ROOM_RATE:-1000}         # posts/s over all clients, scenario 3
HISTORY_MESSAGES=${HISTORY_MESSAGES:-1000000}
HISTORY_QUERIES=${HISTORY_QUERIES:-2000}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-1000}
BENCH_DOC=${BENCH_DOC-docs/benchmarks.md}
HISTORY_ROOMS=4

command -v jq >/dev/null || { echo "bench/run.sh: needs jq (apt-get install jq)" >&2; exit 2; }

release_binaries bench/run.sh --workspace

# Room for a thousand connections on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hubbub-bench.XXXXXX")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)

# 5 first: memory of a fresh hub, then per idle connection.
start_hub idle
sleep 2
FRESH_RSS_KB=$(rss_kb "$HUB_PID")
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

# 3. One big room: 200 members, every message echoed to all of them, at a
# fixed rate. (A window bounds posts not yet acked, not deliveries not yet
# read: with 200 readers in one process on a busy machine, some fall more
# than the 1024 events of a connection's queue behind, and the hub rightly
# drops them as slow consumers.)
start_hub bigroom
sim bigroom load --hub "$HUB_ADDR" --hub-pid "$HUB_PID" --room-prefix big \
    --clients 200 --rooms 1 --messages "$BIG_ROOM_MESSAGES" --rate "$BIG_ROOM_RATE" --size 64 --timeout-secs 180
stop_hub

# 4. History: store HISTORY_MESSAGES over a few rooms, then read the latest 50.
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
big_cpu=$(get .cpu_us_per_delivery bigroom)
big_p99=$(get .latency_ms.p99 bigroom)
big_tput=$(get .throughput bigroom)
pop_rate=$(get .post_rate populate)
pop_stored=$(get .acked populate)
hist_p50=$(get .latency_ms.p50 history)
hist_p99=$(get .latency_ms.p99 history)
idle_per=$(get .rss_per_connection_bytes idle)
idle_n=$(get .opened idle)

echo
echo "durable post rate:        $post_rate acked posts/s (ack p99 $post_p99 ms)"
echo "fan-out 10x10:            $fan_cpu us hub CPU per delivery, p99 $fan_p99 ms, $fan_tput deliveries/s"
echo "one room x 200:           $big_cpu us hub CPU per delivery, p99 $big_p99 ms, $big_tput deliveries/s"
echo "history latest-50:        p50 $hist_p50 ms, p99 $hist_p99 ms ($pop_stored messages stored at $pop_rate posts/s)"
echo "fresh hub RSS:            $FRESH_RSS_KB KiB"
echo "RSS per idle connection:  $idle_per bytes ($idle_n connections)"
echo "bench time (hub only):    ${elapsed}s"

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
$(machine_rows)
| result | $status |

### Results

| scenario | measure | value |
| --- | --- | --- |
| 1. durable post rate: 50 clients, each alone in its room, window 32, 64-byte texts, $POST_MESSAGES posts each | acknowledged (fdatasync'ed) posts per second | **$post_rate** |
| | ack latency p99 | $post_p99 ms |
| 2. WebSocket fan-out: 10 rooms x 10 clients, window 10, $FANOUT_MESSAGES posts each, every message stored | hub CPU per delivery | **$fan_cpu us** |
| | send-to-delivery latency p99 | $fan_p99 ms |
| | deliveries per second | $fan_tput |
| 3. one big room: 1 room x 200 WebSocket clients, $BIG_ROOM_MESSAGES posts each at $BIG_ROOM_RATE posts/s in all, every message to all 200 | hub CPU per delivery | **$big_cpu us** |
| | send-to-delivery latency p99 | $big_p99 ms |
| | deliveries per second | $big_tput |
| 4. history: latest 50 of a room, $HISTORY_QUERIES sequential \`GET /api/rooms/hist-0/messages?limit=50\` with $pop_stored messages stored ($HISTORY_ROOMS rooms, data dir $HISTORY_DATA) | latency p50 | **$hist_p50 ms** |
| | latency p99 | **$hist_p99 ms** |
| | rate while storing them | $pop_rate posts/s |
| 5. memory | RSS of a fresh, idle hub | **$FRESH_RSS_KB KiB** |
| | RSS per idle WebSocket connection ($idle_n connections, hello + join, one room) | **$idle_per bytes** |

### How to read these

- The machine is shared (other builds and tests run at the same time) and
  the load generator runs beside the hub, so throughput and latency are
  noisy from run to run. **CPU per delivery is the robust number.**
- *Durable* means acknowledged after the group commit's \`fdatasync\`, so
  the post rate depends on the disk as much as on the CPU.
- CPU per delivery is the hub's user + system CPU time over the run
  (from \`/proc/PID/stat\`) divided by the messages delivered to clients;
  in scenario 2 that includes storing each message once per ten deliveries,
  in scenario 3 once per 200. It also depends on how busy the hub is: the
  busier, the more messages share a write (scenario 3, at a fixed rate,
  batches less than scenario 2, which goes as fast as its window allows).
- Latencies are measured by the clients: the send time travels in the
  message text and is compared with the time of arrival.
- Every load run checks that each acknowledged message reached every
  member of its room exactly once and in seq order; a run that lost,
  duplicated or reordered anything is flagged above.

### Raw results

\`\`\`
EOF
        for n in idle post fanout bigroom populate history; do
            echo "$n $(cat "$WORK/$n.json")"
        done
        echo "fresh_hub_rss_kb $FRESH_RSS_KB"
        echo '```'
        echo "$END_MARK"
    } >"$block"
    write_section "$BENCH_DOC" "$BEGIN_MARK" "$END_MARK" "$block"
fi

if [[ ${BENCH_MQTT:-1} != 0 ]]; then
    echo "== bench/mqtt.sh" >&2
    mqtt_rc=0
    BENCH_NO_BUILD=1 HUBBUB_BIN=$HUBBUB SIM_BIN=$SIM BENCH_DOC=$BENCH_DOC \
        FANOUT_MESSAGES=${MQTT_FANOUT_MESSAGES:-1000} "$ROOT/bench/mqtt.sh" || mqtt_rc=$?
    [[ $mqtt_rc -eq 0 ]] || FAILED+=("bench/mqtt.sh (exit $mqtt_rc)")
fi
echo "total bench time:         $(($(date +%s) - started))s"

if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "bench/run.sh: problems in: ${FAILED[*]}" >&2
    exit 1
fi
