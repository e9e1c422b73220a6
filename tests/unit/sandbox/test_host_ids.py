"""Host ids: one per sandbox from a claimed block, lowest free first, reused after release."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdad.sandbox import host_ids
from lambdad.sandbox.base import SandboxError
from lambdad.sandbox.host_ids import BLOCK_SIZE, HOST_ID_BASE, TRIAL_ID, HostIds


def test_ids_are_distinct_and_given_back_ones_are_reused_lowest_first(tmp_path: Path) -> None:
    ids = HostIds.claim(tmp_path)
    try:
        first = [ids.allocate() for _ in range(4)]
        assert len(set(first)) == 4
        assert all(ids.first <= i < ids.first + BLOCK_SIZE for i in first)
        assert TRIAL_ID not in first  # the trial's id is in a block never claimed
        ids.release(first[2])
        ids.release(first[1])
        assert ids.allocate() == first[1]
        assert ids.allocate() == first[2]
        assert ids.allocate() not in first
    finally:
        ids.close()


def test_an_id_given_back_twice_still_has_one_owner(tmp_path: Path) -> None:
    ids = HostIds.claim(tmp_path)
    try:
        one = ids.allocate()
        ids.release(one)
        ids.release(one)
        assert ids.allocate() == one
        assert ids.allocate() != one
    finally:
        ids.close()


def test_an_id_of_another_block_is_refused(tmp_path: Path) -> None:
    ids = HostIds.claim(tmp_path)
    try:
        with pytest.raises(ValueError):
            ids.release(HOST_ID_BASE)
    finally:
        ids.close()


def test_servers_side_by_side_get_different_blocks_until_one_closes(tmp_path: Path) -> None:
    a = HostIds.claim(tmp_path)
    b = HostIds.claim(tmp_path)
    assert a.block != b.block
    a.close()
    c = HostIds.claim(tmp_path)
    assert c.block == a.block
    b.close()
    c.close()


def test_a_full_block_refuses_more(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host_ids, "BLOCK_SIZE", 2)
    ids = HostIds.claim(tmp_path)
    try:
        ids.allocate()
        ids.allocate()
        with pytest.raises(SandboxError, match="host ids"):
            ids.allocate()
    finally:
        ids.close()
