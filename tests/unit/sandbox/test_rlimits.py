"""The server's own open-files limit (sandboxes get Lambda's, see `LAMBDA_RLIMITS`)."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

CHILD = """
import resource
from lambdad.sandbox import raise_open_files_limit
got = raise_open_files_limit()
print(got, *resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def test_a_server_started_with_a_low_soft_limit_raises_it_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("the hard limit leaves nothing to raise")

    def low_soft_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    out = subprocess.run(
        [sys.executable, "-c", CHILD], preexec_fn=low_soft_limit,
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    got, now_soft, now_hard = (int(x) for x in out)
    assert now_hard == hard and now_soft == got and got > 256
    if hard != resource.RLIM_INFINITY:
        assert got == hard
