#!/usr/bin/env bash
# Runs the web app's end-to-end tests in headless Chromium.
#
# Needs node (20+), Debian's chromium (apt-get install -y chromium) and the
# hub binary (cargo build -p hubbub, or HUBBUB_BIN=/path/to/hubbub).
# Installs the pinned node packages first if they are missing. Set
# HUBBUB_SCREENSHOTS=1 to write the screenshots to docs/ (not out/).
set -euo pipefail
cd "$(dirname "$0")"

chromium="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "run.sh: no Chromium at $chromium; install it with: apt-get install -y chromium" >&2
  exit 1
fi

if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund
fi

# One file at a time (each starts its own hub and browser); no test may
# hang the run.
exec node --test --test-concurrency=1 --test-timeout=180000 --test-force-exit "$@"
