#!/usr/bin/env bash
# Builds the Debian packages with cargo-deb (metadata in terminal/Cargo.toml and
# back-office/Cargo.toml) and checks them with lintian:
#   kiosk-terminal_<version>_amd64.deb, kiosk-terminal_<version>_arm64.deb (the kiosk feature: the
#   screen on DRM/KMS) and kiosk-back-office_<version>_amd64.deb.
#
#   deploy/build-packages.sh                       # all three
#   deploy/build-packages.sh back-office           # kiosk-back-office (amd64)
#   deploy/build-packages.sh terminal amd64        # kiosk-terminal for one architecture
#   deploy/build-packages.sh terminal arm64
#
# Needs: cargo-deb 3.8.0 (installed into $CARGO_TARGET_DIR/tools when missing), lintian, and for
# the terminal the -dev packages of its architecture (deploy/README.md, "Build machine"); for
# arm64 also gcc-aarch64-linux-gnu and `rustup target add aarch64-unknown-linux-gnu`.
# The packages land in $CARGO_TARGET_DIR/debian/ (default target/debian/); their paths are printed.
# KIOSK_DEB_NO_LINTIAN=1 skips lintian; KIOSK_DEB_NO_BUILD=1 packages what is already built (with
# the same profile, target and features). KIOSK_DEB_PROFILE=dev packages the debug build instead of
# the release one (CI: it reuses what the tests built; not for kiosks).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
OUT="$TARGET_DIR/debian"
# The packaged binaries carry no debug info: smaller, and much faster to link on a 2-core box.
export CARGO_PROFILE_RELEASE_DEBUG=0

die() {
    echo "build-packages: $*" >&2
    exit 2
}

cargo_deb() {
    local tools="$TARGET_DIR/tools/bin/cargo-deb"
    if [ -x "$tools" ] && "$tools" --version 2>/dev/null | grep -q " $CARGO_DEB_VERSION"; then
        "$tools" "$@"
    elif command -v cargo-deb >/dev/null 2>&1 &&
        cargo-deb --version 2>/dev/null | grep -q " $CARGO_DEB_VERSION"; then
        cargo-deb "$@"
    else
        echo "== installing cargo-deb $CARGO_DEB_VERSION into $TARGET_DIR/tools" >&2
        cargo install --locked cargo-deb --version "$CARGO_DEB_VERSION" --root "$TARGET_DIR/tools" >&2
        "$tools" "$@"
    fi
}

# Cross-building for arm64: the linker, the C compiler for bundled SQLite, and pkg-config
# looking at the arm64 -dev packages (dpkg --add-architecture arm64) instead of the host's.
arm64_env() {
    command -v aarch64-linux-gnu-gcc >/dev/null ||
        die "arm64 needs gcc-aarch64-linux-gnu (apt-get install gcc-aarch64-linux-gnu)"
    rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu ||
        die "arm64 needs the Rust target: rustup target add aarch64-unknown-linux-gnu"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    # pkgconf:arm64 (pulled in by the arm64 -dev packages) provides this wrapper, which reads the
    # arm64 multiarch .pc files only.
    command -v aarch64-linux-gnu-pkg-config >/dev/null ||
        die "arm64 needs the arm64 -dev packages (deploy/README.md, \"Build machine\")"
    export PKG_CONFIG_aarch64_unknown_linux_gnu=aarch64-linux-gnu-pkg-config
}

lint() {
    local deb="$1"
    [ "${KIOSK_DEB_NO_LINTIAN:-0}" = 1 ] && return 0
    command -v lintian >/dev/null || die "lintian is missing (apt-get install lintian), or set KIOSK_DEB_NO_LINTIAN=1"
    # Errors fail the build; warnings are printed. deploy/lintian-overrides names what is
    # accepted on purpose and why.
    lintian --fail-on error --suppress-tags-from-file deploy/lintian-overrides "$deb"
}

build() {
    local crate="$1" arch="$2" started
    started=$(date +%s)
    local args=(-p "$crate" --output "$OUT" --profile "${KIOSK_DEB_PROFILE:-release}")
    [ "${KIOSK_DEB_NO_BUILD:-0}" = 1 ] && args+=(--no-build)
    case "$arch" in
        amd64) ;;
        arm64)
            arm64_env
            args+=(--target aarch64-unknown-linux-gnu)
            ;;
        *) die "unknown architecture $arch (amd64 or arm64)" ;;
    esac
    echo "== $crate ($arch)"
    local deb
    deb=$(cargo_deb "${args[@]}" | tail -n 1)
    [ -f "$deb" ] || die "cargo-deb did not report a package for $crate ($arch)"
    dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Architecture\|Depends\|Recommends\):/  \1:/p'
    lint "$deb"
    echo "$deb ($(($(date +%s) - started)) s)"
}

what="${1:-all}"
case "$what" in
    all)
        build back-office amd64
        build terminal amd64
        build terminal arm64
        ;;
    back-office)
        [ "${2:-amd64}" = amd64 ] || die "kiosk-back-office is built for amd64 only"
        build back-office amd64
        ;;
    terminal) build terminal "${2:-amd64}" ;;
    *) die "usage: $0 [all | back-office | terminal [amd64|arm64]]" ;;
esac
