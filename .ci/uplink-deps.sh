#!/usr/bin/env bash
# Installs what the Redis uplink's tests need (tests/tests/uplink.rs):
# Debian's redis-server. Does nothing if it is already there. The tests
# start their own server on a free loopback port; the package's service is
# not needed, so it is stopped if the install started it.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    echo "uplink-deps: $(redis-server --version)"
    exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null
# The package may start a server on 127.0.0.1:6379; the tests need none.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    $SUDO systemctl stop redis-server || true
fi
echo "uplink-deps: installed $(redis-server --version)"
