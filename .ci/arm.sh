#!/usr/bin/env bash
# CI step: the Raspberry Pi targets, under emulation (qemu-user, called
# explicitly: no binfmt here).
#
#  1. installs the cross toolchains, qemu-user-static and the rustup targets;
#  2. cross-builds `hubbub` for aarch64 and armv7 (debug: the size-optimized
#     `dist` build is scripts/build-arm.sh's job, too slow for every run);
#  3. for each, under qemu: starts the hub, posts over HTTP, reads the
#     history back, stops it with SIGTERM and expects exit code 0;
#  4. runs the hubbub-core and hubbub-bridge unit tests under qemu-arm
#     (32-bit: usize, atomics and time differ from the 64-bit host).
#
# Measured on 2 cores shared with other builds: 447 s from a cold target
# directory (builds 336 s, armv7 tests 104 s), 116 s warm. Runs from
# anywhere; needs root for apt-get when the packages are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR=never
step_start=$SECONDS
log() { echo "== arm: $*"; }
fail() { echo "arm: FAILED: $*" >&2; exit 1; }

TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
TARGET_DIR=${CARGO_TARGET_DIR:-target}
APT_PACKAGES=(gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user-static curl)

# The same runners as .cargo/config.toml.
qemu_for() {
    case "$1" in
    aarch64-unknown-linux-gnu) echo "qemu-aarch64-static -L /usr/aarch64-linux-gnu" ;;
    armv7-unknown-linux-gnueabihf) echo "qemu-arm-static -L /usr/arm-linux-gnueabihf" ;;
    esac
}

log "toolchains"
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup target add "${TARGETS[@]}"

log "cross-build hubbub (debug) for ${TARGETS[*]}"
t0=$SECONDS
cargo build --target "${TARGETS[0]}" --target "${TARGETS[1]}" -p hubbub
log "built in $((SECONDS - t0)) s"

work=$(mktemp -d)
hub_pid=
cleanup() {
    if [ -n "$hub_pid" ] && kill -0 "$hub_pid" 2>/dev/null; then kill -KILL "$hub_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# smoke TARGET: the hub under qemu, over real loopback sockets.
smoke() {
    local target=$1 dir="$work/$1"
    mkdir -p "$dir"
    local t0=$SECONDS
    # shellcheck disable=SC2046 # the runner is a command and its arguments
    $(qemu_for "$target") "$TARGET_DIR/$target/debug/hubbub" \
        --data "$dir/data" --http 127.0.0.1:0 --mqtt 127.0.0.1:0 --log-format human >"$dir/hub.log" 2>&1 &
    hub_pid=$!

    local addr="" _
    for _ in $(seq 1 300); do
        addr=$(grep -o 'transport=http addr=127\.0\.0\.1:[0-9]*' "$dir/hub.log" | head -1 | sed 's/.*addr=//') || true
        [ -n "$addr" ] && break
        kill -0 "$hub_pid" 2>/dev/null || { cat "$dir/hub.log"; fail "$target: hub exited at start"; }
        sleep 0.2
    done
    [ -n "$addr" ] || { cat "$dir/hub.log"; fail "$target: hub did not log its address"; }
    log "$target: hub under qemu on $addr after $((SECONDS - t0)) s"

    local base="http://$addr/api/rooms/arm-smoke/messages" n
    for n in 1 2 3; do
        local code
        code=$(curl -s -o "$dir/post$n.json" -w '%{http_code}' --max-time 30 \
            -d "hello from $target #$n" "$base?from=ci")
        [ "$code" = 201 ] || { cat "$dir/post$n.json" "$dir/hub.log"; fail "$target: POST $n answered $code"; }
        grep -q "\"seq\":${n}[,}]" "$dir/post$n.json" || { cat "$dir/post$n.json"; fail "$target: POST $n: seq is not $n"; }
    done

    curl -sf --max-time 30 "$base?limit=10" >"$dir/history.json" || fail "$target: GET history failed"
    for n in 1 2 3; do
        grep -q "hello from $target #$n" "$dir/history.json" || { cat "$dir/history.json"; fail "$target: message $n missing from the history"; }
    done
    [ "$(grep -o '"seq":[0-9]*' "$dir/history.json" | tr '\n' ' ')" = '"seq":1 "seq":2 "seq":3 ' ] ||
        { cat "$dir/history.json"; fail "$target: history is not seq 1, 2, 3 in order"; }

    kill -TERM "$hub_pid"
    local rc=0
    wait "$hub_pid" || rc=$?
    hub_pid=
    [ "$rc" = 0 ] || { cat "$dir/hub.log"; fail "$target: hub exited $rc after SIGTERM, not 0"; }
    grep -q 'stopped' "$dir/hub.log" || { cat "$dir/hub.log"; fail "$target: no orderly stop in the log"; }
    log "$target: post, history, SIGTERM -> exit 0: ok ($((SECONDS - t0)) s)"
}

for t in "${TARGETS[@]}"; do smoke "$t"; done

log "unit tests of hubbub-core and hubbub-bridge under qemu-arm (armv7)"
t0=$SECONDS
cargo test --target armv7-unknown-linux-gnueabihf -p hubbub-core -p hubbub-bridge
log "armv7 tests in $((SECONDS - t0)) s"

log "done in $((SECONDS - step_start)) s"
