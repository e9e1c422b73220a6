"""A sandbox's /proc/self/mountinfo names no host path of its read-only sources, whether
bwrap runs as an unprivileged host uid or as root (root + bwrap)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from lambdad.sandbox import BwrapBackend, Mount, SandboxSpec
from lambdad.sandbox.backend import unprivileged_bwrap_works
from support.marks import needs_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.anyio, *needs_sandbox]

PYTHON = os.path.realpath(sys.executable)
PREFIX = Path(sys.base_prefix)
BWRAP = shutil.which("bwrap") or "bwrap"


@pytest.fixture(params=[True, False], ids=["unprivileged", "privileged"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BwrapBackend]:
    unprivileged: bool = request.param
    if unprivileged and not unprivileged_bwrap_works(BWRAP):
        pytest.skip("this host refuses user namespaces to unprivileged users")
    b = BwrapBackend(state_dir=tmp_path / "state", spares=0, unprivileged=unprivileged)
    yield b
    await b.close()


async def test_read_only_sources_are_not_named(backend: BwrapBackend, tmp_path: Path) -> None:
    code = tmp_path / "code-0123456789abcdef"
    code.mkdir()
    (code / "app.py").write_text("seen = True\n")
    code.chmod(0o755)
    out_path = tmp_path / "mountinfo.txt"
    script = (
        "import sys\n"
        "sys.stdout.write(open('/proc/self/mountinfo').read())\n"
        "sys.stdout.write(open('/var/task/app.py').read())\n"
    )
    with open(out_path, "wb") as out:
        spec = SandboxSpec(
            sandbox_id="mountinfo",
            argv=(PYTHON, "-I", "-S", "-c", script),
            env={},
            mounts=(Mount(PREFIX, str(PREFIX)), Mount(code, "/var/task")),
            memory_mb=128,
            ephemeral_storage_mb=16,
            work_dir=tmp_path / "work",
            stdout_fd=out.fileno(),
            stderr_fd=out.fileno(),
        )
        sandbox = await backend.start(spec)
    with anyio.fail_after(20):
        status = await sandbox.wait()
    await sandbox.destroy("done")
    text = out_path.read_text()
    assert status.returncode == 0, text
    assert "seen = True" in text
    for secret in (str(tmp_path), code.name, str(backend.state_dir), "lambdad-stage"):
        assert secret not in text, (secret, text)
