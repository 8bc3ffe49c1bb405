#!/usr/bin/env bash
# The arm64 (aarch64-unknown-linux-gnu) part of CI: cross-builds with Debian's
# gcc-aarch64-linux-gnu and runs test binaries under qemu-aarch64 (Debian's qemu-user).
#   1. the device crates' and the pure cores' unit tests (bill-acceptor, card-reader,
#      receipt-printer, fiscal-register, barcode-scanner, kiosk-core, kiosk-health) under
#      qemu-aarch64;
#   2. the terminal binary for arm64 without the kiosk feature (bundled SQLite cross-compiles);
#   3. the terminal with the kiosk feature (Slint's DRM/KMS backend), against the arm64 -dev
#      packages (dpkg --add-architecture arm64);
#   4. (package) the same kiosk build, packaged as kiosk-terminal_*_arm64.deb and lintian-checked
#      by deploy/build-packages.sh (CI runs this instead of step 3: one cross build, not two).
# Each step prints its wall time. The debug profile: CI proves that it builds and passes, the
# release packages come from deploy/build-packages.sh.
#   .ci/arm64.sh [device-tests] [terminal] [kiosk] [package]    (default: the first three)
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# qemu's library prefix: the cross libc (libc6-arm64-cross), unless the arm64 multiarch libc is
# installed (libc6:arm64, pulled in by the kiosk step's -dev packages). Then the cross loader
# would find the multiarch libraries through the host's ld.so.cache, a different glibc build,
# and the test binaries hang at start: use the multiarch root throughout instead.
if [ -e /lib/ld-linux-aarch64.so.1 ]; then
    QEMU_PREFIX=/
else
    QEMU_PREFIX=/usr/aarch64-linux-gnu
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $QEMU_PREFIX"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc

timed() {
    local name="$1" started
    shift
    started=$(date +%s)
    echo "== arm64: $name"
    "$@"
    echo "== arm64: $name took $(($(date +%s) - started)) s"
}

apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

toolchain() {
    apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
    rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
}

device_tests() {
    # Two tests open a pty through serialport, whose termios2 ioctls (TCGETS2/TCSETS2) qemu-user
    # does not implement ("Function not implemented"): they run natively in the suite, and a
    # board's kernel has the ioctls.
    cargo test --target "$TARGET" --lib \
        -p bill-acceptor -p card-reader -p receipt-printer -p fiscal-register -p barcode-scanner \
        -p kiosk-core -p kiosk-health \
        -- --skip pty_gets_the_termios_the_settings_ask_for --skip zvt_line_settings
}

# Shows that what was built is an arm64 executable.
machine() {
    aarch64-linux-gnu-readelf -h "${CARGO_TARGET_DIR:-target}/$TARGET/debug/terminal" | grep Machine
}

terminal() {
    cargo build --target "$TARGET" -p terminal --bin terminal --no-default-features
    machine
    # It starts: the help text, under qemu.
    qemu-aarch64 -L "$QEMU_PREFIX" "${CARGO_TARGET_DIR:-target}/$TARGET/debug/terminal" --version
}

arm64_dev_packages() {
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
    fi
    apt_install pkg-config libinput-dev:arm64 libudev-dev:arm64 libseat-dev:arm64 libxkbcommon-dev:arm64
}

kiosk() {
    arm64_dev_packages
    # pkgconf:arm64 (pulled in by the -dev packages) provides aarch64-linux-gnu-pkg-config, which
    # reads the arm64 multiarch .pc files only; the pkg-config crate takes it for this target.
    PKG_CONFIG_aarch64_unknown_linux_gnu=aarch64-linux-gnu-pkg-config \
        cargo build --target "$TARGET" -p terminal --bin terminal --no-default-features --features kiosk
    machine
}

package() {
    arm64_dev_packages
    KIOSK_DEB_PROFILE="${KIOSK_DEB_PROFILE:-dev}" deploy/build-packages.sh terminal arm64
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(device-tests terminal kiosk)
timed "toolchain (gcc-aarch64-linux-gnu, qemu-user, rust target)" toolchain
for step in "${steps[@]}"; do
    case "$step" in
        device-tests) timed "device crates' unit tests under qemu-aarch64" device_tests ;;
        terminal) timed "terminal binary (no kiosk feature)" terminal ;;
        kiosk) timed "terminal binary with the kiosk feature (DRM/KMS)" kiosk ;;
        package) timed "kiosk-terminal arm64 package (the kiosk build)" package ;;
        *)
            echo "unknown step $step (device-tests, terminal, kiosk, package)" >&2
            exit 2
            ;;
    esac
done
