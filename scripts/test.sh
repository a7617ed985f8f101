#!/usr/bin/env bash
# Every test: one debug build shared by all stages, then the Rust unit and
# end-to-end tests (real hub binary, mosquitto clients, paho-mqtt,
# redis-server), then the web app in headless Chromium.
#
# Prerequisites on Debian (.ci/run installs them):
#   apt-get install -y redis-server mosquitto-clients python3-paho-mqtt chromium nodejs npm
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== build"
cargo build --workspace --all-targets

echo "== cargo test"
cargo test --workspace --no-fail-fast

echo "== browser"
tests/browser/run.sh
