#!/usr/bin/env bash
# Fuzzes the bridge's decoders (the cargo-fuzz crate in bridge/fuzz): every
# target at once, each for SECONDS (default 60) on one core, starting from
# its working corpus (bridge/fuzz/corpus/TARGET, kept between runs, not in
# git) and its seeds (bridge/fuzz/seeds/TARGET). Fails if any target finds
# a crash, a hang or an out-of-memory input, and prints where the input is
# and how to reproduce it.
#
#   scripts/fuzz.sh            # CI: 60 s per target
#   scripts/fuzz.sh 3600       # an hour per target
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). cargo-fuzz passes
# nightly-only flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the
# stable compiler take them. FUZZ_SANITIZER=none builds without
# AddressSanitizer, should it ever fail to build or run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

export RUSTC_BOOTSTRAP=1
fuzz_dir=bridge/fuzz
# The same build options for `build` and `run`, or `run` builds again. 16
# codegen units build in about half the time of cargo-fuzz's default 1, for
# slightly slower runs.
build_opts=(--fuzz-dir "$fuzz_dir" --sanitizer "${FUZZ_SANITIZER:-address}" --codegen-units 16)
# A single input running 10 s is a hang; the targets check allocation
# themselves, this is a backstop.
libfuzzer_opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

mapfile -t targets < <(cargo fuzz list --fuzz-dir "$fuzz_dir")
echo "fuzz targets: ${targets[*]}; $seconds s each"
cargo fuzz build "${build_opts[@]}"

logs=$fuzz_dir/artifacts/logs
mkdir -p "$logs"
declare -A pids
for t in "${targets[@]}"; do
    mkdir -p "$fuzz_dir/corpus/$t"
    cargo fuzz run "${build_opts[@]}" "$t" "$fuzz_dir/corpus/$t" "$fuzz_dir/seeds/$t" \
        -- "${libfuzzer_opts[@]}" >"$logs/$t.log" 2>&1 &
    pids[$t]=$!
done

failed=0
for t in "${targets[@]}"; do
    status=0
    wait "${pids[$t]}" || status=$?
    log=$logs/$t.log
    # libFuzzer's closing lines: "Done N runs in S second(s)" and stat::...
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 \2/p' "$log" | tail -n1)
    corpus=$(find "$fuzz_dir/corpus/$t" -type f | wc -l)
    if [ -n "$runs" ]; then
        read -r n s <<<"$runs"
        echo "$t: $n runs in $s s ($((n / (s > 0 ? s : 1))) exec/s), corpus $corpus inputs"
    fi
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "FAILED: $t (exit $status); log: $log"
        # The panic and its message, or the sanitizer's or libFuzzer's verdict.
        grep -A1 "panicked at" "$log" | head -n 4 || true
        grep -E "^==[0-9]+==ERROR|^SUMMARY" "$log" | head -n 4 || true
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n1)
        if [ -n "$artifact" ]; then
            artifact=${artifact#"$PWD/"}
            echo "input: $artifact"
            echo "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run ${build_opts[*]} $t $artifact"
        else
            tail -n 30 "$log"
        fi
    fi
done
exit "$failed"
