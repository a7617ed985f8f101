#!/usr/bin/env bash
# bench/mqtt.sh: the hub's MQTT broker against Debian's mosquitto, in the
# same run, on the same machine. Not part of CI; bench/run.sh calls it.
#
# Each scenario gets a fresh release hub (data on disk, fdatasync on) or a
# fresh mosquitto (its own loopback port, minimal config: anonymous, no
# persistence), driven by `firmware-sim load` / `firmware-sim idle`:
#
#   1. fan-out, QoS 0 and QoS 1: 10 rooms x 10 MQTT clients, each posting
#      FANOUT_MESSAGES 64-byte texts with a window of 10 (a post leaves the
#      window once its sender has it back), every post to all 10 members:
#        - hub, room topics rooms/{room}: every message stored durably
#        - hub, plain topics bench/{room}: pub/sub only, like for like
#        - mosquitto, plain topics bench/{room}
#   2. IDLE_DEVICES idle MQTT devices (connected, one subscription each):
#      RSS of each broker, bytes per connection
#
# Prints one JSON line per run and writes its own marked part of
# docs/benchmarks.md (BENCH_DOC=path elsewhere, BENCH_DOC= none).
# BENCH_NO_BUILD=1 skips the build; HUBBUB_BIN, SIM_BIN and MOSQUITTO point
# at other binaries. Needs jq, python3 and mosquitto (as root it installs
# Debian's package if missing). About two minutes on a 2-core machine.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

FANOUT_MESSAGES=${FANOUT_MESSAGES:-1000}
IDLE_DEVICES=${IDLE_DEVICES:-1000}
BENCH_DOC=${BENCH_DOC-docs/benchmarks.md}

for tool in jq python3; do
    command -v "$tool" >/dev/null || { echo "bench/mqtt.sh: needs $tool" >&2; exit 2; }
done
MOSQUITTO=${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
if [[ ! -x $MOSQUITTO && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "== apt-get install -y mosquitto" >&2
    apt-get install -y mosquitto >&2 || { apt-get update >&2 && apt-get install -y mosquitto >&2; }
    MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
fi
[[ -x $MOSQUITTO ]] || { echo "bench/mqtt.sh: needs mosquitto (apt-get install mosquitto)" >&2; exit 2; }
MOSQ_VERSION=$("$MOSQUITTO" -h 2>/dev/null | grep -o 'version [0-9.]*' | head -1 | cut -d' ' -f2 || true)
MOSQ_PKG=$(dpkg-query -W -f '${Version}' mosquitto 2>/dev/null || true)

release_binaries bench/mqtt.sh

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hubbub-mqtt-bench.XXXXXX")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
FANOUT=(--transport mqtt --clients 100 --rooms 10 --messages "$FANOUT_MESSAGES" --window 10 --size 64 --timeout-secs 180)

# 1. Fan-out, each run on a fresh broker.
for qos in 0 1; do
    start_hub "rooms-q$qos"
    sim "hub-rooms-q$qos" load --mqtt "$HUB_MQTT" --hub-pid "$HUB_PID" "${FANOUT[@]}" \
        --qos "$qos" --topic-mode rooms
    stop_hub
    start_hub "plain-q$qos"
    sim "hub-plain-q$qos" load --mqtt "$HUB_MQTT" --hub-pid "$HUB_PID" "${FANOUT[@]}" \
        --qos "$qos" --topic-mode plain
    stop_hub
    start_mosquitto "mosq-q$qos"
    sim "mosq-q$qos" load --mqtt "$MOSQ_ADDR" --hub-pid "$MOSQ_PID" "${FANOUT[@]}" \
        --qos "$qos" --topic-mode plain
    stop_mosquitto
done

# 2. Idle devices: memory per connection.
IDLE=(idle --transport mqtt --connections "$IDLE_DEVICES" --rooms 10 --hold-secs 5)
start_hub idle
sleep 1
sim hub-idle "${IDLE[@]}" --mqtt "$HUB_MQTT" --hub-pid "$HUB_PID" --topic-mode rooms
stop_hub
start_mosquitto idle
sleep 1
sim mosq-idle "${IDLE[@]}" --mqtt "$MOSQ_ADDR" --hub-pid "$MOSQ_PID" --topic-mode plain
stop_mosquitto

elapsed=$(($(date +%s) - started))

# fanout_row QOS NAME LABEL: one row of the fan-out table.
fanout_row() {
    local cpu mosq
    cpu=$(get .cpu_us_per_delivery "$2")
    mosq=$(get .cpu_us_per_delivery "mosq-q$1")
    echo "| $1 | $3 | **$cpu** | $(ratio "$cpu" "$mosq") | $(get .throughput "$2") | $(get .latency_ms.p50 "$2") / $(get .latency_ms.p99 "$2") | $(get .delivered "$2") | $(get .lost "$2") |"
}

echo
for qos in 0 1; do
    for n in hub-rooms-q$qos hub-plain-q$qos mosq-q$qos; do
        echo "fan-out qos $qos $n: $(get .cpu_us_per_delivery "$n") us CPU/delivery, $(get .throughput "$n") deliveries/s, lost $(get .lost "$n")"
    done
done
for n in hub-idle mosq-idle; do
    echo "idle $n: $(get .rss_per_connection_bytes "$n") bytes per connection"
done
echo "total MQTT bench time: ${elapsed}s"

BEGIN_MARK='<!-- bench/mqtt.sh: begin (generated, do not edit by hand) -->'
END_MARK='<!-- bench/mqtt.sh: end -->'
if [[ -n $BENCH_DOC ]]; then
    status="all runs clean"
    if [[ ${#FAILED[@]} -gt 0 ]]; then
        status="PROBLEMS in: ${FAILED[*]} (see the raw results)"
    fi
    # shellcheck disable=SC2016 # the backticks are Markdown
    rows=$(for qos in 0 1; do
        fanout_row "$qos" "hub-rooms-q$qos" 'hub, room topics `rooms/{room}` (every post stored durably)'
        fanout_row "$qos" "hub-plain-q$qos" 'hub, plain topics `bench/{room}`'
        fanout_row "$qos" "mosq-q$qos" 'mosquitto, plain topics `bench/{room}`'
    done)
    hub_idle=$(get .rss_per_connection_bytes hub-idle)
    mosq_idle=$(get .rss_per_connection_bytes mosq-idle)
    block=$WORK/block.md
    {
        echo "$BEGIN_MARK"
        cat <<EOF
## MQTT: the hub against mosquitto (\`bench/mqtt.sh\`)

Written by \`bench/mqtt.sh\` (run by \`bench/run.sh\`); rerun it to refresh
this part. Every run gets a fresh broker: a release hub with its default
configuration (data on disk, every room message \`fdatasync\`'ed before it
is acknowledged or delivered), or Debian's mosquitto on a loopback port of
its own with \`listener PORT 127.0.0.1\`, \`allow_anonymous true\`,
\`persistence false\` and nothing else. Both are driven by the same load
generator (\`firmware-sim\`, rumqttc, MQTT 3.1.1) on the same machine.

| | |
| --- | --- |
$(machine_rows)
| mosquitto | ${MOSQ_VERSION:-unknown} (Debian package ${MOSQ_PKG:-unknown}) |
| result | $status |

### Fan-out: 10 rooms x 10 MQTT clients

Every client posts $FANOUT_MESSAGES 64-byte texts to its room's topic with
at most 10 of its posts on their way at once (a post leaves the window when
it is back at its sender, and at QoS 1 also acknowledged), and subscribes to
the same topic: each post is delivered to all 10 members, sender included.

| QoS | broker and topics | broker CPU per delivery (us) | vs mosquitto | deliveries/s | latency p50 / p99 (ms) | delivered | lost |
| --- | --- | --- | --- | --- | --- | --- | --- |
$rows

### $IDLE_DEVICES idle MQTT devices

Each connects (clean session, keep-alive 30 s) and subscribes to one topic
(hub: \`rooms/idle-N\`, 10 rooms, so each is also online in a room;
mosquitto: \`bench/idle-N\`), then all are held for 5 s.

| broker | RSS before (KiB) | RSS with the devices (KiB) | bytes per connection | vs mosquitto |
| --- | --- | --- | --- | --- |
| hub | $(get .hub_rss_before_kb hub-idle) | $(get .hub_rss_after_kb hub-idle) | **$hub_idle** | $(ratio "$hub_idle" "$mosq_idle") |
| mosquitto | $(get .hub_rss_before_kb mosq-idle) | $(get .hub_rss_after_kb mosq-idle) | **$mosq_idle** | 1.00x |

### How to read these

- The machine is shared (2 cores, other builds and tests running at the
  same time), and the load generator runs beside the broker: throughput
  and latency vary a lot from run to run and are bounded by the generator
  as much as by the broker. **CPU per delivery is the robust number**: the
  broker's own user + system CPU time over the run (\`/proc/PID/stat\`)
  divided by the messages delivered; quote its ratio against mosquitto.
- The hub's room topics do more than mosquitto: each post is validated,
  given a seq, written to the history store and \`fdatasync\`'ed (group
  commit) before anyone gets it, and delivered as the canonical message
  JSON. The plain-topic rows are the like-for-like comparison.
- Every run checks that each post reached every member of its room exactly
  once and in order (per sender; on room topics also by the room's seq). At
  QoS 0 a broker may drop messages under overload; the window keeps the load
  to what the brokers sustain here, and a run that lost anything is flagged.

### Raw results

\`\`\`
EOF
        for n in hub-rooms-q0 hub-plain-q0 mosq-q0 hub-rooms-q1 hub-plain-q1 mosq-q1 hub-idle mosq-idle; do
            echo "$n $(cat "$WORK/$n.json")"
        done
        echo '```'
        echo "$END_MARK"
    } >"$block"
    write_section "$BENCH_DOC" "$BEGIN_MARK" "$END_MARK" "$block"
fi

if [[ ${#FAILED[@]} -gt 0 ]]; then
    echo "bench/mqtt.sh: problems in: ${FAILED[*]}" >&2
    exit 1
fi
