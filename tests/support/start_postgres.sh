#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the test suite and print its URL.
#
#   tests/support/start_postgres.sh DIR [PORT]
#   export LAMBDAD_TEST_DATABASE_URL=$(tests/support/start_postgres.sh /tmp/pg)
#   tests/support/stop_postgres.sh DIR
#
# The cluster lives in DIR (data in DIR/data, unix socket and log in DIR),
# listens on 127.0.0.1:PORT (a free port if not given) with trust auth, and
# has a database `lambdad_test`. PostgreSQL refuses to run as root, so when
# run as root the server runs as the `postgres` user.
set -euo pipefail

dir=${1:?usage: start_postgres.sh DIR [PORT]}
port=${2:-}

bindir=${PG_BINDIR:-}
if [[ -z $bindir ]]; then
    if command -v initdb >/dev/null 2>&1; then
        bindir=$(dirname "$(readlink -f "$(command -v initdb)")")
    else
        bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    fi
fi
[[ -x $bindir/initdb ]] || { echo "start_postgres.sh: no initdb found (set PG_BINDIR)" >&2; exit 1; }

if [[ -z $port ]]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    runuser -u postgres -- test -w "$dir" \
        || { echo "start_postgres.sh: user postgres cannot reach $dir (check its parents' modes)" >&2; exit 1; }
fi

if [[ ! -f $dir/data/PG_VERSION ]]; then
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
fi

if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    echo "start_postgres.sh: a cluster is already running in $dir; stop it first" >&2
    exit 1
fi
as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null || { cat "$dir/postgres.log" >&2; exit 1; }
echo "$port" >"$dir/port"

exists=$(as_owner "$bindir/psql" -h "$dir" -p "$port" -U postgres -d postgres -Atc \
    "SELECT 1 FROM pg_database WHERE datname = 'lambdad_test'")
if [[ -z $exists ]]; then
    as_owner "$bindir/createdb" -h "$dir" -p "$port" -U postgres lambdad_test
fi

echo "postgresql://postgres@127.0.0.1:$port/lambdad_test"
