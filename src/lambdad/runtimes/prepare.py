"""Prepared runtime directories: each managed runtime's SDK, installed once from PyPI / npm.

A prepared directory holds exactly what a `bundles.Bundle` lists, installed
for the interpreter that runs the runtime, never taken from the host
interpreter's site-packages. It is named by the bundle's key (content-
addressed: the pins, the language version, the layout), made once, then
read-only and shared by every sandbox through a read-only mount; a cold start
never copies it.

- python: the packages' files (boto3/, botocore/, ...), compiled to bytecode
  by the interpreter that will import them, with the file names the sandbox
  sees (`/var/lang/lib/pythonX.Y/site-packages/...`); mounted there.
- node: `node_modules/` of an `npm install` of the bundle; mounted at
  `/var/runtime/node_modules`, which AWS's NODE_PATH names.

`RuntimeStore.ensure` is safe with concurrent cold starts, in one server or
several sharing the cache dir: an exclusive file lock per key, a check under
it, and the directory appears by one rename when it is complete. A failure
(no network, no pip/npm) raises `RuntimePreparationError` saying what to do.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from lambdad.errors import LambdadError
from lambdad.runtimes.bundles import Bundle

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""(step, steps, what) -> None: one call as each step of a preparation starts."""

INSTALL_TIMEOUT_S = 900.0


class RuntimePreparationError(LambdadError):
    """A runtime's SDK could not be installed (offline, no pip or npm, no such version)."""


def site_packages(language_version: str) -> str:
    """Where a python bundle is seen inside the sandbox (AWS's 3.11+ layout)."""
    return f"/var/lang/lib/python{language_version}/site-packages"


NODE_MODULES = "/var/runtime/node_modules"
"""Where a node bundle is seen inside the sandbox (on AWS's NODE_PATH)."""


class RuntimeStore:
    """Prepared runtime directories under `root` (the data dir's, or a shared cache)."""

    def __init__(
        self,
        root: Path,
        *,
        python: str | None = None,
        npm: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`python` runs pip (default: the server's own); `npm` is found on PATH by
        default; `env` is the installers' environment (default: the server's)."""
        self.root = root.absolute()  # mounted by path: a relative one means nothing there
        self.python = python or sys.executable
        self.npm = npm
        self.env = dict(os.environ if env is None else env)

    def path(self, bundle: Bundle) -> Path:
        return self.root / bundle.key

    def ready(self, bundle: Bundle) -> Path | None:
        """The prepared directory, or None if it is not made yet."""
        path = self.path(bundle)
        return path if path.is_dir() else None

    def mount_source(self, bundle: Bundle) -> Path:
        """The host dir to mount for a prepared bundle (see the module's layout)."""
        path = self.path(bundle)
        return path / "node_modules" if bundle.family == "node" else path

    def ensure(
        self,
        bundle: Bundle,
        *,
        interpreter: Path | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """The bundle's prepared directory, made now if missing (blocking; may download).

        `interpreter` compiles a python bundle's bytecode (the one that will run it)."""
        done = self.ready(bundle)
        if done is not None:
            return done
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{bundle.key}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another cold start may be preparing it
            done = self.ready(bundle)
            if done is not None:
                return done
            log.info(
                "runtime %s: preparing %s (first use; downloading)",
                bundle.runtime,
                bundle.describe(),
            )
            staging = self.root / f".tmp-{bundle.key}-{secrets.token_hex(4)}"
            try:
                self._build(bundle, staging, interpreter, progress or _quiet)
                _make_read_only(staging)
                staging.rename(self.path(bundle))
            finally:
                if staging.exists():
                    _make_writable(staging)
                    shutil.rmtree(staging, ignore_errors=True)
            log.info("runtime %s: prepared in %s", bundle.runtime, self.path(bundle))
            return self.path(bundle)

    def _build(
        self, bundle: Bundle, staging: Path, interpreter: Path | None, progress: Progress
    ) -> None:
        if bundle.family == "python":
            progress(1, 2, f"installing {', '.join(bundle.packages)} from PyPI")
            self._run(bundle, "pip", self._pip_argv(bundle, staging))
            progress(2, 2, "compiling bytecode")
            if interpreter is not None:
                seen_as = site_packages(bundle.language_version)
                argv = [str(interpreter), "-m", "compileall", "-q", "-j", "0", "-s", str(staging)]
                self._run(bundle, "compileall", [*argv, "-p", seen_as, str(staging)])
        else:
            progress(1, 1, f"installing {len(bundle.packages)} @aws-sdk packages from npm")
            staging.mkdir(parents=True)
            self._run(bundle, "npm", self._npm_argv(bundle, staging))

    def _pip_argv(self, bundle: Bundle, staging: Path) -> list[str]:
        return [
            self.python, "-m", "pip", "install",
            "--disable-pip-version-check", "--no-input", "--no-compile",
            "--retries", "2", "--progress-bar", "off",
            "--target", str(staging),
            "--python-version", bundle.language_version,
            "--only-binary=:all:", "--implementation", "cp",
            *bundle.packages,
        ]  # fmt: skip

    def _npm_argv(self, bundle: Bundle, staging: Path) -> list[str]:
        npm = self.npm or shutil.which("npm", path=self.env.get("PATH"))
        if npm is None:
            raise RuntimePreparationError(
                f"Cannot prepare runtime {bundle.runtime}: npm is not installed on this host "
                "(Debian: apt-get install npm)"
            )
        return [
            npm, "install", "--prefix", str(staging),
            "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts",
            "--omit=dev", "--fetch-retries=1", "--loglevel=error",
            *bundle.packages,
        ]  # fmt: skip

    def _run(self, bundle: Bundle, tool: str, argv: list[str]) -> None:
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=self.env,
                timeout=INSTALL_TIMEOUT_S,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise RuntimePreparationError(
                f"Cannot prepare runtime {bundle.runtime}: {tool} did not run ({exc})"
            ) from None
        if proc.returncode != 0:
            reason = _last_error(proc.stderr or proc.stdout)
            raise RuntimePreparationError(
                f"Cannot prepare runtime {bundle.runtime}: {tool} could not install "
                f"{', '.join(bundle.packages)}: {reason}. Is the package registry reachable? "
                "Prepare runtimes where it is with `lambdad runtimes prepare`, "
                "into the same cache dir."
            )


def _quiet(step: int, steps: int, what: str) -> None:
    pass


def _last_error(output: str) -> str:
    """The most telling line of an installer's output (its last error line)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    picked = (errors or lines or ["no output"])[-1]
    return picked[:300]


def _make_read_only(root: Path) -> None:
    """Nothing in a prepared dir changes after it is made (every sandbox shares it)."""
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o444 | (os.stat(path).st_mode & 0o111))
        os.chmod(dirpath, 0o555)


def _make_writable(root: Path) -> None:
    for dirpath, _dirnames, _filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
