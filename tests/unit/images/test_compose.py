"""Layers stack into one root: whiteouts remove, opaque dirs hide, files are
hard links into the layer directories (stored once)."""

from __future__ import annotations

import os
from pathlib import Path

from lambdad.images.compose import add_mount_points, compose


def tree(root: Path, files: dict[str, str], links: dict[str, str] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(exist_ok=True)
        else:
            path.write_text(text)
    for name, target in (links or {}).items():
        os.symlink(target, root / name)
    return root


def listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    lower = tree(
        tmp_path / "l1",
        {"etc/a": "1", "etc/b": "1", "opt/x/old": "1", "opt/keep": "1", "gone/deep/f": "1"},
    )
    upper = tree(
        tmp_path / "l2",
        {"etc/.wh.a": "", "opt/x/.wh..wh..opq": "", "opt/x/new": "2", "etc/b": "2", ".wh.gone": ""},
    )
    compose([lower, upper], tmp_path / "root")
    root = tmp_path / "root"
    assert listing(root) == {
        "etc", "etc/b", "etc/resolv.conf", "opt", "opt/x", "opt/x/new", "opt/keep",
    }  # fmt: skip
    assert (root / "etc/b").read_text() == "2"
    assert os.stat(root / "etc/b").st_ino == os.stat(upper / "etc/b").st_ino  # a hard link


def test_a_directory_replaces_a_symlink_and_nothing_is_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    lower = tree(tmp_path / "l1", {}, {"lib": str(outside)})
    upper = tree(tmp_path / "l2", {"lib/x.so": "so"})
    compose([lower, upper], tmp_path / "root")
    assert (tmp_path / "root/lib").is_dir() and not (tmp_path / "root/lib").is_symlink()
    assert list(outside.iterdir()) == []
    # a whiteout cannot reach out either
    upper2 = tree(tmp_path / "l3", {".wh..": "", ".wh.": ""})
    compose([lower, upper2], tmp_path / "root2")
    assert outside.exists()


def test_a_root_with_an_etc_gets_a_resolv_conf_mount_point(tmp_path: Path) -> None:
    plain = compose_one(tmp_path, "plain", {"etc/passwd": "root\n"})
    assert (plain / "etc" / "resolv.conf").read_text() == ""
    assert oct((plain / "etc" / "resolv.conf").stat().st_mode & 0o777) == "0o644"
    linked = compose_one(tmp_path, "linked", {"etc/": ""}, {"etc/resolv.conf": "../run/r"})
    resolv = linked / "etc" / "resolv.conf"
    assert resolv.is_file() and not resolv.is_symlink()
    own = compose_one(tmp_path, "own", {"etc/resolv.conf": "nameserver 192.0.2.1\n"})
    inode = (own / "etc" / "resolv.conf").stat().st_ino
    add_mount_points(own)  # again, on a root in use: nothing changes
    assert (own / "etc" / "resolv.conf").stat().st_ino == inode
    assert (own / "etc" / "resolv.conf").read_text() == "nameserver 192.0.2.1\n"
    bare = compose_one(tmp_path, "bare", {"bin/sh": "x"})
    assert not (bare / "etc").exists()  # the sandbox makes its own etc then
    assert listing(own) == {"etc", "etc/resolv.conf"}


def compose_one(
    tmp_path: Path, name: str, files: dict[str, str], links: dict[str, str] | None = None
) -> Path:
    layer = tree(tmp_path / f"{name}-layer", files, links)
    compose([layer], tmp_path / name)
    return tmp_path / name
