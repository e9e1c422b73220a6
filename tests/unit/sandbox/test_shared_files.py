"""Where the server keeps what sandboxes read (see `lambdad.sandbox.shared_files`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lambdad.sandbox import reachable_by_others, shared_files


def test_a_dir_under_a_private_dir_is_not_reachable(tmp_path: Path) -> None:
    private = tmp_path / "private"
    inner = private / "data"
    inner.mkdir(parents=True)
    private.chmod(0o700)
    inner.chmod(0o755)
    assert not reachable_by_others(inner)
    private.chmod(0o711)  # traversable without being listable is enough
    assert reachable_by_others(inner) == reachable_by_others(tmp_path)


def test_bwrap_keeps_them_in_the_data_dir_wherever_it_is(tmp_path: Path) -> None:
    files = shared_files(tmp_path / "data", "bwrap")
    assert (files.root, files.temporary) == (tmp_path / "data", False)
    assert files.code_dir == tmp_path / "data" / "code"


def test_process_backend_as_root_moves_them_out_of_an_unreachable_data_dir(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root runs sandboxes as another uid")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    files = shared_files(private / "data", "process")
    try:
        assert files.temporary and reachable_by_others(files.root)
        assert (files.root.stat().st_mode & 0o777) == 0o711
    finally:
        files.remove()
    assert not files.root.exists()
    reachable = shared_files(tmp_path, "process")
    assert reachable.temporary == (not reachable_by_others(tmp_path))
    reachable.remove()
