#!/usr/bin/env bash
# Sets up lambdad with its test tools and runs the whole test suite, the
# store and API suites a second time against a PostgreSQL server it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export AWS_EC2_METADATA_DISABLED=true

pg_dir=""
cleanup() {
  if [[ -n "$pg_dir" ]]; then tests/support/stop_postgres.sh "$pg_dir" --remove || true; fi
}
trap cleanup EXIT

if [[ -z "${LAMBDAD_TEST_DATABASE_URL:-}" ]] && compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  pg_dir=$(mktemp -d /tmp/lambdad-pg.XXXXXX)
  chmod 755 "$pg_dir"  # the postgres user runs the cluster in it
  LAMBDAD_TEST_DATABASE_URL=$(tests/support/start_postgres.sh "$pg_dir")
  export LAMBDAD_TEST_DATABASE_URL
  echo "==> PostgreSQL for the tests at $LAMBDAD_TEST_DATABASE_URL"
fi

echo "==> ruff"
.venv/bin/ruff check src tests bench
.venv/bin/ruff format --check src tests bench
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
# Two processes by default: most of the suite's time is spent waiting on servers
# and sandboxes, not on CPU. Each test file runs whole in one process, so its
# module-scoped servers start once. LAMBDAD_TEST_JOBS=1 runs it in one process.
jobs=${LAMBDAD_TEST_JOBS:-2}
if [[ $jobs -gt 1 ]]; then
  .venv/bin/pytest -q -n "$jobs" --dist loadfile "$@"
else
  .venv/bin/pytest -q "$@"
fi
