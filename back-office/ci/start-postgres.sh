#!/bin/sh
# Installs Debian's PostgreSQL if it is missing, starts a private throw-away cluster and prints the
# URL the back-office tests take from KIOSK_TEST_DATABASE_URL, e.g.
#   export KIOSK_TEST_DATABASE_URL="$(back-office/ci/start-postgres.sh)"
# Env: PGPORT_TEST (default 55432), PGDATA_TEST (default /tmp/kiosk-pg). Progress goes to stderr.
set -eu
port="${PGPORT_TEST:-55432}"
data="${PGDATA_TEST:-/tmp/kiosk-pg}"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing postgresql from Debian" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
fi
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

# PostgreSQL refuses to run as root: run it as the postgres user when we are root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres "$data"
    as_pg "$bin/initdb -D '$data' -A trust -U postgres >/dev/null"
fi
if ! as_pg "$bin/pg_ctl -D '$data' status" >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl -D '$data' -l '$data/server.log' -w -o '-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300' start" >&2
fi
as_pg "$bin/psql -h 127.0.0.1 -p $port -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='kiosk_test'\"" | grep -q 1 \
    || as_pg "$bin/createdb -h 127.0.0.1 -p $port -U postgres kiosk_test"
echo "postgres://postgres@127.0.0.1:$port/kiosk_test"
