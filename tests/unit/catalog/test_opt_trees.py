"""/opt trees: layers merged in order by links, built once per combination."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from lambdad.catalog import CodeCache, OptTrees
from lambdad.store import BlobStore
from support.zips import make_zip


def trees(tmp_path: Path) -> tuple[OptTrees, BlobStore]:
    blobs = BlobStore(tmp_path / "blobs")
    cache = CodeCache(blobs, tmp_path / "code")
    return OptTrees(cache, tmp_path / "opt"), blobs


def link_zip(files: dict[str, str], links: dict[str, str]) -> bytes:
    buffer = io.BytesIO(make_zip(files))
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def test_no_layers_no_tree_and_one_layer_is_its_own_tree(tmp_path: Path) -> None:
    opt, blobs = trees(tmp_path)
    assert opt.ensure([]) is None
    key = blobs.put(make_zip({"python/a.py": "A = 1\n"}))
    assert opt.ensure([key]) == tmp_path / "code" / key
    assert not list((tmp_path / "opt").iterdir())


def test_later_layers_win_whatever_the_entry_kind(tmp_path: Path) -> None:
    opt, blobs = trees(tmp_path)
    first = blobs.put(
        link_zip(
            {
                "python/shared.py": "first",
                "python/first_only.py": "1",
                "becomes_file/inner.txt": "dir in first",
                "becomes_dir": "file in first",
                "bin/tool": "first tool",
            },
            {"lib/current": "v1"},
        )
    )
    second = blobs.put(
        link_zip(
            {
                "python/shared.py": "second",
                "becomes_file": "file in second",
                "becomes_dir/inner.txt": "dir in second",
            },
            {"bin": "python", "lib/current": "v2"},
        )
    )
    tree = opt.ensure([first, second])
    assert tree is not None and tree.parent == tmp_path / "opt"
    assert (tree / "python/shared.py").read_text() == "second"
    assert (tree / "python/first_only.py").read_text() == "1"
    assert (tree / "becomes_file").read_text() == "file in second"
    assert (tree / "becomes_dir/inner.txt").read_text() == "dir in second"
    assert os.readlink(tree / "bin") == "python"  # a link replaced a whole directory
    assert os.readlink(tree / "lib/current") == "v2"
    # Linked, not copied: the same inode as the unpacked layer's file.
    unpacked = tmp_path / "code" / second / "python/shared.py"
    assert os.stat(tree / "python/shared.py").st_ino == os.stat(unpacked).st_ino
    # Building the first layer's tree never touched the unpacked layer itself.
    assert (tmp_path / "code" / first / "python/shared.py").read_text() == "first"
    assert (tmp_path / "code" / first / "bin/tool").read_text() == "first tool"


def test_one_tree_per_ordered_combination(tmp_path: Path) -> None:
    opt, blobs = trees(tmp_path)
    a = blobs.put(make_zip({"x": "a"}))
    b = blobs.put(make_zip({"x": "b"}))
    ab, again, ba = opt.ensure([a, b]), opt.ensure([a, b]), opt.ensure([b, a])
    assert ab == again and ab != ba
    assert ab is not None and ba is not None
    assert (ab / "x").read_text() == "b" and (ba / "x").read_text() == "a"
    assert len(list((tmp_path / "opt").iterdir())) == 2


def test_prune_removes_idle_and_half_built_trees_only(tmp_path: Path) -> None:
    opt, blobs = trees(tmp_path)
    a = blobs.put(make_zip({"x": "a"}))
    b = blobs.put(make_zip({"x": "b"}))
    idle, used = opt.ensure([a, b]), opt.ensure([b, a])
    assert idle is not None and used is not None
    os.utime(idle, (0, 0))
    half_built = tmp_path / "opt" / ".abc-123"
    half_built.mkdir()
    opt.prune(max_idle_s=3600)
    assert not idle.exists() and not half_built.exists()
    assert used.exists() and (used / "x").read_text() == "a"
    rebuilt = opt.ensure([a, b])
    assert rebuilt == idle and rebuilt is not None and (rebuilt / "x").read_text() == "b"
