#!/bin/sh
# Installs Debian's PostgreSQL if it is missing, starts a private throw-away cluster and prints the
# URL the back-office tests take from KIOSK_TEST_DATABASE_URL, e.g.
#   export KIOSK_TEST_DATABASE_URL="$(back-office/ci/start-postgres.sh)"
# The cluster serves TLS too: a throw-away CA and a server certificate for the name `localhost`
# only (made with openssl, in $PGDATA_TEST/tls), so the TLS tests can tell verify-ca from
# verify-full. The URL names the CA (`sslrootcert=`), so the tests' connections use TLS checked
# against it (sslmode prefer with a root file = verify-ca).
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
# The TLS files: a CA, and a server certificate it signed for DNS:localhost (not 127.0.0.1).
tls="$data/tls"
if [ ! -f "$tls/server.crt" ]; then
    command -v openssl >/dev/null || { apt-get update -qq >&2; apt-get install -y -qq openssl >&2; }
    mkdir -p "$tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=kiosk test CA" -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=localhost" -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 3650 -extfile "$tls/server.ext" -out "$tls/server.crt" 2>/dev/null
    chmod 600 "$tls/server.key" "$tls/ca.key"
    chmod 644 "$tls/ca.crt" "$tls/server.crt"
    [ "$(id -u)" = 0 ] && chown -R postgres "$tls"
    chmod 755 "$tls"
fi
if ! as_pg "$bin/pg_ctl -D '$data' status" >/dev/null 2>&1; then
    as_pg "$bin/pg_ctl -D '$data' -l '$data/server.log' -w -o '-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300' start" >&2
fi
as_pg "$bin/psql -h 127.0.0.1 -p $port -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='kiosk_test'\"" | grep -q 1 \
    || as_pg "$bin/createdb -h 127.0.0.1 -p $port -U postgres kiosk_test"
# TLS on, also for a cluster an older copy of this script started (a reload, no restart).
as_pg "$bin/psql -h 127.0.0.1 -p $port -U postgres -qAt" >/dev/null <<SQL
ALTER SYSTEM SET ssl_cert_file = '$tls/server.crt';
ALTER SYSTEM SET ssl_key_file = '$tls/server.key';
ALTER SYSTEM SET ssl = on;
SELECT pg_reload_conf();
SQL
# The reload is asynchronous: wait until new sessions see TLS on.
i=0
until [ "$(as_pg "$bin/psql -h 127.0.0.1 -p $port -U postgres -tAc 'SHOW ssl'")" = on ]; do
    i=$((i + 1))
    [ "$i" -lt 100 ] || { echo "PostgreSQL did not turn TLS on; see $data/server.log" >&2; exit 1; }
    sleep 0.1
done
echo "postgres://postgres@127.0.0.1:$port/kiosk_test?sslrootcert=$tls/ca.crt"
