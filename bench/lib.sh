# shellcheck shell=bash
# bench/lib.sh: helpers shared by the bench/*.sh scripts (sourced, not
# run). The caller sets ROOT and WORK (a temporary directory of its own),
# calls release_binaries (which sets HUBBUB and SIM), and calls
# bench_cleanup on exit. Every process started
# here is stopped by its PID.

HUB_PID=""
HUB_ADDR=""
HUB_MQTT=""
HUB_DIR=""
MOSQ_PID=""
MOSQ_ADDR=""
FAILED=()

# release_binaries SCRIPT [CARGO ARGS...]: builds the release binaries
# (unless BENCH_NO_BUILD=1; by default `-p hubbub -p firmware-sim`) and sets
# HUBBUB and SIM (HUBBUB_BIN and SIM_BIN point elsewhere); exits 2 if one
# is missing, naming SCRIPT.
release_binaries() {
    local script=$1
    shift
    local what=("$@")
    [[ ${#what[@]} -gt 0 ]] || what=(-p hubbub -p firmware-sim)
    if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
        echo "== cargo build --release ${what[*]}" >&2
        cargo build --release "${what[@]}"
    fi
    HUBBUB=${HUBBUB_BIN:-$ROOT/target/release/hubbub}
    SIM=${SIM_BIN:-$ROOT/target/release/firmware-sim}
    [[ -x $HUBBUB && -x $SIM ]] || { echo "$script: missing $HUBBUB or $SIM" >&2; exit 2; }
}

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL; reaps it.
stop_pid() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_hub() {
    stop_pid "$HUB_PID"
    HUB_PID=""
}

stop_mosquitto() {
    stop_pid "$MOSQ_PID"
    MOSQ_PID=""
}

bench_cleanup() {
    stop_hub
    stop_mosquitto
    rm -rf "$WORK"
}

# listening_addr LOG TRANSPORT: the address of the hub's
# `listening transport=TRANSPORT addr=127.0.0.1:PORT` line, if logged yet.
listening_addr() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null |
        grep -m1 "listening.*transport=\"\{0,1\}$2" |
        grep -o 'addr=[^ ]*' | grep -o '127\.0\.0\.1:[0-9]*' || true
}

# start_hub NAME [TOML]: a fresh release hub with its own data directory,
# HTTP and MQTT on free loopback ports; sets HUB_PID, HUB_ADDR (HTTP),
# HUB_MQTT and HUB_DIR. Retention is off so that a million messages stay.
# TOML, if given, is appended to the config right after the [mqtt] table,
# which comes last: bare keys at its start belong to [mqtt] (`acl = [...]`),
# then it may open tables of its own ([auth], [http.tls], [mqtt.tls]...).
start_hub() {
    HUB_DIR=$WORK/$1
    mkdir -p "$HUB_DIR"
    cat >"$HUB_DIR/hubbub.toml" <<EOF
[hub]
id = "bench"
data_dir = "$HUB_DIR/data"

[http]
listen = "127.0.0.1:0"

# The load generators post as fast as the hub acks, and the idle
# scenarios open thousands of connections from one address.
[limits]
messages_per_second = 0
max_connections = 100000
max_connections_per_address = 100000

[retention]
max_messages_per_room = 0
max_age_days = 0

[mqtt]
listen = "127.0.0.1:0"
${2:-}
EOF
    NO_COLOR=1 "$HUBBUB" --config "$HUB_DIR/hubbub.toml" 2>"$HUB_DIR/hub.log" &
    HUB_PID=$!
    HUB_ADDR=""
    HUB_MQTT=""
    local i
    for ((i = 0; i < 100; i++)); do
        HUB_ADDR=$(listening_addr "$HUB_DIR/hub.log" http)
        HUB_MQTT=$(listening_addr "$HUB_DIR/hub.log" mqtt)
        [[ -n $HUB_ADDR && -n $HUB_MQTT ]] && break
        if ! kill -0 "$HUB_PID" 2>/dev/null; then
            echo "bench: the hub exited at start:" >&2
            cat "$HUB_DIR/hub.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    if [[ -z $HUB_ADDR || -z $HUB_MQTT ]]; then
        echo "bench: no 'listening transport=http|mqtt addr=127.0.0.1:PORT' lines from the hub in 10 s:" >&2
        cat "$HUB_DIR/hub.log" >&2
        exit 1
    fi
    echo "== hub $1: pid $HUB_PID, http $HUB_ADDR, mqtt $HUB_MQTT" >&2
}

# free_port: a loopback port nobody listens on right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_mosquitto NAME: Debian's mosquitto on a loopback port of its own
# with a minimal config (anonymous, no persistence); sets MOSQ_PID and
# MOSQ_ADDR.
start_mosquitto() {
    local dir=$WORK/$1 port i
    mkdir -p "$dir"
    port=$(free_port)
    cat >"$dir/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
EOF
    "$MOSQUITTO" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
    MOSQ_PID=$!
    MOSQ_ADDR=127.0.0.1:$port
    for ((i = 0; i < 100; i++)); do
        grep -q 'running' "$dir/mosquitto.log" 2>/dev/null && break
        if ! kill -0 "$MOSQ_PID" 2>/dev/null; then
            echo "bench: mosquitto exited at start:" >&2
            cat "$dir/mosquitto.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    echo "== mosquitto $1: pid $MOSQ_PID on $MOSQ_ADDR" >&2
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

# get JQ-PATH NAME: one value from a result ("n/a" if absent).
get() {
    jq -r "$1 // \"n/a\"" "$WORK/$2.json" 2>/dev/null || echo n/a
}

# ratio A B: A / B with two decimals and an x ("n/a" unless both are numbers).
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }'
}

# rss_kb PID: resident memory of a process, KiB.
rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# machine_rows: the date, machine and rustc rows of a results header table.
machine_rows() {
    echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
    echo "| machine | $(uname -m), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)) |"
    echo "| kernel | $(uname -r) |"
    echo "| rustc | $(rustc --version 2>/dev/null || echo unknown) |"
}

# write_section DOC BEGIN-MARK END-MARK BLOCK-FILE: replaces the part of DOC
# between the two marker lines with BLOCK-FILE (which holds the markers),
# or appends it; the rest of the page is kept.
write_section() {
    local doc=$1 begin=$2 end=$3 block=$4 tmp=$WORK/doc.md
    mkdir -p "$(dirname "$doc")"
    if [[ -f $doc ]] && grep -qF "$begin" "$doc"; then
        awk -v blockfile="$block" -v b="$begin" -v e="$end" '
            $0 == b { while ((getline line < blockfile) > 0) print line; skip = 1; next }
            $0 == e { skip = 0; next }
            !skip { print }' "$doc" >"$tmp"
    elif [[ -f $doc ]]; then
        # Appended in place: the rest of the page is not rewritten.
        { echo; cat "$block"; } >>"$doc"
        echo "wrote $doc" >&2
        return
    else
        { printf '# Benchmarks\n\n'; cat "$block"; } >"$tmp"
    fi
    cat "$tmp" >"$doc"
    echo "wrote $doc" >&2
}
