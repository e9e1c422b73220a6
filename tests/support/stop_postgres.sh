#!/usr/bin/env bash
# Stop a cluster started by start_postgres.sh DIR (and optionally remove DIR).
#
#   tests/support/stop_postgres.sh DIR [--remove]
set -euo pipefail

dir=${1:?usage: stop_postgres.sh DIR [--remove]}
[[ -f $dir/data/PG_VERSION ]] || { echo "stop_postgres.sh: no cluster in $dir" >&2; exit 1; }

bindir=${PG_BINDIR:-}
if [[ -z $bindir ]]; then
    if command -v pg_ctl >/dev/null 2>&1; then
        bindir=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
    else
        bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    fi
fi

if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop
else
    "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop
fi

if [[ ${2:-} == --remove ]]; then
    rm -rf "$dir"
fi
