#!/bin/sh
# Independent check of the HTTP API against its OpenAPI description with schemathesis (PyPI).
# Needs: pip install "schemathesis==3.39.16" "hypothesis==6.131.14" (newer Hypothesis breaks
# schemathesis 3.39), curl, and a built back-office binary.
# Usage: back-office/ci/schemathesis.sh [path/to/back-office]
# Fails (non-zero) if any request produces a 5xx or the server crashes.
set -eu
bin="${1:-target/debug/back-office}"
command -v schemathesis >/dev/null || { echo "schemathesis is not installed (pip install schemathesis)" >&2; exit 1; }
dir="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" --database-url "$dir/bo.sqlite" accounts seed-demo >/dev/null
"$bin" --database-url "$dir/bo.sqlite" terminal add ST-1 >/dev/null
# Everything but the terminal API, /login and /healthz needs a session or a token: test as an admin.
"$bin" --database-url "$dir/bo.sqlite" user add st-admin --role admin >/dev/null
token="$("$bin" --database-url "$dir/bo.sqlite" token add st-admin --label schemathesis)"
"$bin" --database-url "$dir/bo.sqlite" serve --listen 127.0.0.1:18089 --messages-file "$dir/m.jsonl" &
pid=$!
for _ in $(seq 50); do curl -fs http://127.0.0.1:18089/healthz >/dev/null 2>&1 && break; sleep 0.2; done
curl -fs -H "Authorization: Bearer $token" http://127.0.0.1:18089/openapi.json >"$dir/openapi.json"
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$(dirname "$0")" \
schemathesis run --checks not_a_server_error --hypothesis-max-examples "${ST_EXAMPLES:-100}" \
    -H "Authorization: Bearer $token" --base-url http://127.0.0.1:18089 "$dir/openapi.json"
kill -0 "$pid" # the server must still be alive
