#!/usr/bin/env bash
# Cross-builds Hubbub for the Raspberry Pi and packages it.
#
#   scripts/build-arm.sh [--install-deps] [--profile NAME] [--target TRIPLE]...
#                        [--no-package]
#
# Builds `hubbub` and `firmware-sim` for each target (default:
# aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf and
# aarch64-unknown-linux-musl) into target/<triple>/<profile>/ with the
# size-optimized `dist` profile (root Cargo.toml), checks each binary
# against the 5 MB budget, and writes into target/packages/:
#   - hubbub_<version>-1_<arch>.deb   per glibc target (arm64, armhf), cargo-deb
#   - hubbub-<version>-<triple>.tar.gz per target: binaries, config, systemd
#     unit and sysusers file, for other distributions (the musl build is
#     static and runs on any aarch64 Linux, however old its libc).
#
# --install-deps installs the Debian cross toolchains, qemu-user-static, the
# rustup targets and cargo-deb first (needs root and network access to the
# package registries). Honours CARGO_TARGET_DIR in place of target/.
# See docs/deploy.md for installing the results.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf aarch64-unknown-linux-musl)
APT_PACKAGES=(gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross qemu-user-static)
MAX_BINARY_BYTES=5000000 # the budget: every shipped binary under 5 MB
BINARIES=(hubbub firmware-sim)

profile=dist
target_dir=${CARGO_TARGET_DIR:-target}
targets=()
install_deps=0
package=1

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-0}"
}

while [ $# -gt 0 ]; do
    case "$1" in
    --install-deps) install_deps=1 ;;
    --profile) profile=${2:?--profile needs a name}; shift ;;
    --target) targets+=("${2:?--target needs a triple}"); shift ;;
    --no-package) package=0 ;;
    -h | --help) usage 0 ;;
    *) echo "build-arm: unknown argument: $1" >&2; usage 2 >&2 ;;
    esac
    shift
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

log() { echo "== build-arm: $*"; }
die() { echo "build-arm: error: $*" >&2; exit 1; }

linker_for() {
    case "$1" in
    aarch64-unknown-linux-gnu | aarch64-unknown-linux-musl) echo aarch64-linux-gnu-gcc ;;
    armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf-gcc ;;
    *) die "unsupported target $1 (supported: ${ALL_TARGETS[*]})" ;;
    esac
}

# The Debian architecture of a glibc target; none for the musl build.
deb_arch_for() {
    case "$1" in
    aarch64-unknown-linux-gnu) echo arm64 ;;
    armv7-unknown-linux-gnueabihf) echo armhf ;;
    *) echo "" ;;
    esac
}

if [ "$install_deps" = 1 ]; then
    log "installing ${APT_PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${APT_PACKAGES[@]}" >/dev/null
    log "adding rustup targets ${targets[*]}"
    rustup target add "${targets[@]}"
    if [ "$package" = 1 ] && ! cargo deb --version >/dev/null 2>&1; then
        log "installing cargo-deb"
        cargo install --locked cargo-deb
    fi
fi

installed_targets=$(rustup target list --installed)
for t in "${targets[@]}"; do
    command -v "$(linker_for "$t")" >/dev/null || die "$(linker_for "$t") not found (run with --install-deps)"
    grep -qx "$t" <<<"$installed_targets" || die "rust target $t not installed (run with --install-deps)"
done

# One cargo invocation per binary for all targets: the host-side build
# scripts and proc-macros are compiled once, and each binary gets exactly
# its own dependency features (built together, cargo would give the hub the
# features only firmware-sim's HTTP client needs).
target_args=()
for t in "${targets[@]}"; do target_args+=(--target "$t"); done
start=$SECONDS
for b in "${BINARIES[@]}"; do
    log "cargo build --profile $profile ${target_args[*]} -p $b"
    cargo build --locked --profile "$profile" "${target_args[@]}" -p "$b"
done
log "built in $((SECONDS - start)) s"

over=0
for t in "${targets[@]}"; do
    for b in "${BINARIES[@]}"; do
        f="$target_dir/$t/$profile/$b"
        [ -f "$f" ] || die "$f missing after the build"
        size=$(stat -c %s "$f")
        status=ok
        if [ "$size" -ge "$MAX_BINARY_BYTES" ]; then status="OVER BUDGET"; over=1; fi
        printf '%-32s %-13s %9d bytes  %s\n' "$t" "$b" "$size" "$status"
    done
done
[ "$over" = 0 ] || die "a binary is over the ${MAX_BINARY_BYTES}-byte budget"

[ "$package" = 1 ] || exit 0

version=$(sed -n 's/.*[#@]\([0-9][0-9.]*[^ ]*\)$/\1/p' <<<"$(cargo pkgid -p hubbub)")
[ -n "$version" ] || die "cannot read the hubbub version"
out=$target_dir/packages
mkdir -p "$out"

# Reproducible archives: file times from the last commit when there is one.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH=$epoch

for t in "${targets[@]}"; do
    arch=$(deb_arch_for "$t")
    if [ -n "$arch" ]; then
        cargo deb --version >/dev/null 2>&1 || die "cargo-deb not installed (cargo install --locked cargo-deb, or --install-deps)"
        log "deb for $t ($arch)"
        # --no-build: the binary above is the one packaged; it is already stripped.
        cargo deb -p hubbub --target "$t" --profile "$profile" --no-build --no-strip \
            --output "$out/hubbub_${version}-1_${arch}.deb"
    fi

    name="hubbub-$version-$t"
    log "tarball $name.tar.gz"
    stage=$(mktemp -d)
    mkdir -p "$stage/$name"
    for b in "${BINARIES[@]}"; do install -m 755 "$target_dir/$t/$profile/$b" "$stage/$name/$b"; done
    install -m 644 config/pi.toml "$stage/$name/hubbub.toml"
    install -m 644 config/hubbub.toml "$stage/$name/hubbub.example.toml"
    install -m 644 config/systemd/hubbub.sysusers "$stage/$name/hubbub.sysusers"
    install -m 644 config/nginx/hubbub.conf "$stage/$name/nginx-hubbub.conf"
    install -m 644 README.md docs/deploy.md "$stage/$name/"
    # Installed by hand, the binary goes to /usr/local/bin (docs/deploy.md).
    sed 's|^ExecStart=/usr/bin/hubbub|ExecStart=/usr/local/bin/hubbub|' \
        config/systemd/hubbub.service >"$stage/$name/hubbub.service"
    chmod 644 "$stage/$name/hubbub.service"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
        -C "$stage" -czf "$out/$name.tar.gz" "$name"
    rm -rf "$stage"
done

log "packages in $out:"
ls -l "$out"
