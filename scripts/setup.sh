#!/usr/bin/env bash
# Installs what lambdad needs on a Debian/Ubuntu machine: the system packages
# (bubblewrap for isolation, e2fsprogs for disk-backed /tmp, slirp4netns for
# network mode egress, Node.js for the nodejs runtimes) and a virtualenv in
# .venv with lambdad in it.
# Usage: scripts/setup.sh [--test]   (--test adds PostgreSQL and the test tools)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(bubblewrap e2fsprogs util-linux procps iproute2 slirp4netns)
# Schedules read their expressions in IANA time zones (zoneinfo reads tzdata's files).
packages+=(tzdata)
# The nodejs runtimes run on the host's Node; install Debian's if there is none.
command -v node >/dev/null || packages+=(nodejs)
# npm prepares the nodejs runtimes' bundled AWS SDK (lambdad runtimes prepare).
command -v npm >/dev/null || packages+=(npm)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(postgresql curl)
  # Container-image tests: a local OCI registry, and busybox for the images they build.
  packages+=(docker-registry busybox-static)
  # The console's tests drive Debian's headless Chromium (Playwright by its path).
  packages+=(chromium chromium-driver)
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "==> installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "WARNING: missing packages (${missing[*]}); install them as root with apt-get." >&2
  fi
fi

# Prefer the real interpreter over a pyenv shim (a shim costs ~100 ms a start).
python=$(command -v python3)
python=$("$python" -c 'import os, sys; print(os.path.realpath(sys.executable))')
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
extras="postgres"
[[ "${1:-}" == "--test" ]] && extras="test"
# The install is editable: only a changed pyproject.toml needs pip again.
stamp=".venv/.installed-$extras"
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ -x .venv/bin/lambdad && -f "$stamp" && "$(cat "$stamp")" == "$wanted" ]]; then
  echo "==> lambdad[$extras] in .venv is up to date"
else
  echo "==> installing lambdad[$extras] into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
  echo "$wanted" > "$stamp"
  # The test extras hold the server's own (postgres).
  [[ "$extras" == "test" ]] && echo "$wanted" > .venv/.installed-postgres
fi
if [[ "$extras" == "test" ]]; then
  # The runtimes the tests run, with their bundled SDKs, downloaded once per checkout
  # into the cache every test server shares (tests/support/runtime_cache.py).
  echo "==> preparing the tests' runtimes (bundled AWS SDKs) in .cache/runtimes"
  .venv/bin/lambdad runtimes prepare --cache "${LAMBDAD_TEST_RUNTIME_CACHE:-.cache/runtimes}" \
    python3.11 python3.12 python3.13 nodejs20.x </dev/null \
    || echo "WARNING: could not prepare the runtimes now; the first tests that need them will" >&2
fi
true
