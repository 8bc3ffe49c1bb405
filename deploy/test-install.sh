#!/usr/bin/env bash
# Installs kiosk-back-office into a clean Debian 12 chroot with dpkg -i and starts what the
# service starts: the unit's own ExecStart line, as the unit's user, in its working directory,
# against SQLite, with a throw-away TLS certificate; then asks it over HTTPS for the login page
# (public) and /openapi.json (refused without a login).
# systemd cannot be PID 1 in a chroot, so this is the tested equivalent of `systemctl start`.
#   deploy/test-install.sh kiosk-back-office_*.deb [BASE]
# BASE: an existing debootstrap of bookworm (minbase + systemd curl openssl ca-certificates) to
# copy; without it one is made (a few minutes, needs the network) and kept under
# $CARGO_TARGET_DIR/bookworm-base for the next run. Needs root (chroot, mount).
set -euo pipefail
deb="${1:?usage: $0 kiosk-back-office_VERSION_amd64.deb [BASE]}"
target_dir="${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target}"
base="${2:-$target_dir/bookworm-base}"
if [ ! -x "$base/usr/bin/dpkg" ]; then
    command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap
    debootstrap --variant=minbase --include=systemd,curl,openssl,ca-certificates \
        bookworm "$base" http://deb.debian.org/debian
fi

root=$(mktemp -d /tmp/kiosk-chroot.XXXXXX)
cleanup() {
    [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
    umount "$root/proc" 2>/dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT
cp -a "$base/." "$root/"
mount -t proc proc "$root/proc"
in_root() { chroot "$root" "$@"; }

echo "== dpkg -i $(basename "$deb") in a clean chroot"
cp "$deb" "$root/tmp/"
in_root dpkg -i "/tmp/$(basename "$deb")"

echo "== what postinst made"
in_root getent passwd back-office
in_root stat -c '%n %a %U:%G' /etc/back-office /var/lib/back-office
unit=/usr/lib/systemd/system/back-office.service
in_root test -f "$unit"

echo "== the unit's ExecStart, as its user, with a throw-away certificate"
in_root openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout /etc/back-office/key.pem -out /etc/back-office/cert.pem 2>/dev/null
in_root chgrp back-office /etc/back-office/key.pem /etc/back-office/cert.pem
in_root chmod 0640 /etc/back-office/key.pem
# The ExecStart line with its continuation lines joined.
exec_start=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$root$unit" | sed -n 's/^ExecStart=//p')
user=$(sed -n 's/^User=//p' "$root$unit")
workdir=$(sed -n 's/^WorkingDirectory=//p' "$root$unit")
echo "ExecStart=$exec_start (User=$user, WorkingDirectory=$workdir)"
# shellcheck disable=SC2086 # the unit's words, split as systemd splits them (no quotes in it)
chroot --userspec="$user:$user" "$root" sh -c "cd '$workdir' && exec $exec_start" \
    > "$root/tmp/server.log" 2>&1 &
server=$!
# --http1.1: the server offers h2 by ALPN (back-office/src/tls.rs) but axum is built without its
# http2 feature, so an HTTP/2 request gets no answer (reported; not this script's business).
for _ in $(seq 1 100); do
    if in_root curl -sfk --http1.1 https://127.0.0.1:8443/login -o /tmp/login.html; then
        break
    fi
    kill -0 "$server" 2>/dev/null || { cat "$root/tmp/server.log"; echo "the server exited" >&2; exit 1; }
    sleep 0.2
done
in_root grep -qi '<form' /tmp/login.html || { cat "$root/tmp/server.log"; echo "no login page" >&2; exit 1; }
echo "GET https://127.0.0.1:8443/login: 200, $(wc -c < "$root/tmp/login.html") bytes"
status=$(in_root curl -sk --http1.1 -o /dev/null -w '%{http_code}' https://127.0.0.1:8443/openapi.json)
[ "$status" = 401 ] || { echo "GET /openapi.json without a login: $status, expected 401" >&2; exit 1; }
echo "GET https://127.0.0.1:8443/openapi.json without a login: 401"
in_root ls -l "$workdir"
kill "$server"
wait "$server" 2>/dev/null || true
server=
echo "== kiosk-back-office installs and its service starts: OK"
