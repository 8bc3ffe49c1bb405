#!/usr/bin/env bash
# `systemd-analyze verify` of the units as the packages ship them: the .debs are unpacked over a
# copy of this machine's systemd units into a scratch root, so that ExecStart's binaries, the
# drop-ins (the units they change are verified too) and the dependencies (time-sync.target, systemd-time-wait-sync.service) are all there.
# Works in a container where systemd is not PID 1 (verify --root reads files only).
#   .ci/verify-units.sh kiosk-terminal_*.deb kiosk-back-office_*.deb
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 PACKAGE.deb..." >&2; exit 2; }
if ! command -v systemd-analyze >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends systemd
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/lib/systemd" "$root/etc"
cp -a /usr/lib/systemd/. "$root/usr/lib/systemd/"
cp /etc/passwd /etc/group "$root/etc/"
# Debian's units name /lib/systemd/…: the merged-/usr links, as on the host.
for d in bin sbin lib; do ln -s "usr/$d" "$root/$d"; done
mkdir -p "$root/usr/bin" "$root/usr/sbin"
units=()
for deb in "$@"; do
    dpkg-deb -x "$deb" "$root"
    while read -r unit; do
        units+=("$unit")
    done < <(dpkg-deb -c "$deb" | awk '{print $NF}' | sed -nE 's#^\./usr/lib/systemd/system/([^/]+\.service)(\.d/.*)?$#\1#p' | sort -u)
done
[ ${#units[@]} -gt 0 ] || { echo "no systemd units in $*" >&2; exit 1; }
for unit in "${units[@]}"; do
    echo "systemd-analyze verify $unit"
    # verify prints problems but exits 0 for some of them: any output is a failure.
    out=$(systemd-analyze verify --root="$root" "$unit" 2>&1) || { echo "$out"; exit 1; }
    if [ -n "$out" ]; then
        echo "$out"
        exit 1
    fi
done
echo "units OK: ${units[*]}"
