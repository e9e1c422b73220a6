import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest

from lambdad.catalog import extract_zip, inspect_zip
from lambdad.catalog.code import MAX_UNZIPPED_BYTES
from lambdad.errors import InvalidParameterValue
from support.zips import bomb_zip, make_zip, symlink_zip


def test_inspect_reports_hashes_and_sizes() -> None:
    data = make_zip({"app.py": "x = 1\n", "lib/util.py": "y" * 1000})
    package = inspect_zip(data)
    digest = hashlib.sha256(data).digest()
    assert package.sha256_hex == digest.hex()
    assert package.code_sha256 == base64.b64encode(digest).decode()
    assert package.size == len(data)
    assert package.unzipped_size == 6 + 1000


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "lib/../../../etc/passwd", "..\\evil"])
def test_inspect_refuses_traversal(name: str) -> None:
    with pytest.raises(InvalidParameterValue, match="outside the package root"):
        inspect_zip(make_zip({"app.py": "", name: "boom"}))


@pytest.mark.parametrize("name", ["/etc/x", "\\windows\\x", "C:/x"])
def test_inspect_refuses_absolute_paths(name: str) -> None:
    with pytest.raises(InvalidParameterValue, match="absolute path"):
        inspect_zip(make_zip({"app.py": "", name: "boom"}))


def test_inner_dot_dot_that_stays_inside_is_still_refused() -> None:
    # Lambda refuses any `..` component, even when it would resolve inside.
    with pytest.raises(InvalidParameterValue):
        inspect_zip(make_zip({"lib/../app.py": ""}))


@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/passwd", "../lib/../../x", "../.."])
def test_inspect_refuses_links_out(target: str) -> None:
    with pytest.raises(InvalidParameterValue, match="outside the package root"):
        inspect_zip(symlink_zip("lib/link", target))


def test_inspect_accepts_links_inside() -> None:
    inspect_zip(symlink_zip("lib/link", "../app.py"))


def test_bomb_is_refused_by_inflated_bytes() -> None:
    with pytest.raises(InvalidParameterValue) as info:
        inspect_zip(bomb_zip())
    assert info.value.message == f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"


def test_many_entries_count_together_toward_the_limit() -> None:
    chunk = bytes(MAX_UNZIPPED_BYTES // 4 + 1)
    with pytest.raises(InvalidParameterValue, match="Unzipped size"):
        inspect_zip(make_zip({f"part{i}": chunk for i in range(4)}))


@pytest.mark.parametrize(
    "data",
    [b"not a zip", b"PK\x03\x04" + bytes(100), make_zip({"app.py": "x" * 5000})[:-30]],
    ids=["garbage", "header-only", "truncated"],
)
def test_corrupt_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidParameterValue, match="Could not unzip"):
        inspect_zip(data)


def test_empty_is_refused() -> None:
    with pytest.raises(InvalidParameterValue):
        inspect_zip(b"")


def test_bad_crc_is_refused() -> None:
    data = bytearray(make_zip({"app.py": "x" * 5000}))
    # Flip a byte of the compressed data (after the 30-byte header and the name).
    data[30 + len("app.py") + 5] ^= 0xFF
    with pytest.raises(InvalidParameterValue):
        inspect_zip(bytes(data))


def test_extract_keeps_the_exec_bit_and_makes_files_readable(tmp_path: Path) -> None:
    data = make_zip(
        {"bootstrap": "#!/bin/sh\n", "app.py": "x = 1\n", "lib/util.py": ""},
        executable=("bootstrap",),
    )
    dest = tmp_path / "code"
    extract_zip(data, dest)
    assert (dest / "app.py").read_text() == "x = 1\n"
    assert stat.S_IMODE(os.stat(dest / "bootstrap").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(dest / "app.py").st_mode) == 0o644
    assert (dest / "lib" / "util.py").exists()
    # Every directory is readable by others: the sandbox's user is not the server's.
    for directory in (dest, dest / "lib"):
        assert stat.S_IMODE(os.stat(directory).st_mode) & 0o005 == 0o005


def test_extract_keeps_links_inside(tmp_path: Path) -> None:
    dest = tmp_path / "code"
    extract_zip(symlink_zip("lib/link", "../app.py"), dest)
    assert os.readlink(dest / "lib" / "link") == "../app.py"
    assert (dest / "lib" / "link").read_text() == (dest / "app.py").read_text()


@pytest.mark.parametrize(
    "data",
    [make_zip({"app.py": "", "../evil": "boom"}), symlink_zip(), b"garbage"],
    ids=["traversal", "symlink-out", "corrupt"],
)
def test_extract_refuses_and_leaves_nothing(tmp_path: Path, data: bytes) -> None:
    dest = tmp_path / "code" / "key"
    with pytest.raises(InvalidParameterValue):
        extract_zip(data, dest)
    assert not dest.exists()
    assert list((tmp_path / "code").iterdir()) == []
    assert not (tmp_path / "evil").exists()


def test_extract_refuses_a_bomb_and_cleans_up(tmp_path: Path) -> None:
    dest = tmp_path / "code" / "key"
    with pytest.raises(InvalidParameterValue, match="Unzipped size"):
        extract_zip(bomb_zip(), dest)
    assert list((tmp_path / "code").iterdir()) == []


def _link_chain_zip() -> bytes:
    """`a` -> `.`, `a/b` -> `.`, `a/b/c` -> `../../y`: each looks inside, the chain is not."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, target in (("a", "."), ("a/b", "."), ("a/b/c", "../../y")):
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
        archive.writestr("a/b/c/pwned.txt", "owned")
    return buffer.getvalue()


def test_inspect_refuses_entries_below_links() -> None:
    with pytest.raises(InvalidParameterValue, match="outside the package root"):
        inspect_zip(_link_chain_zip())


def test_extract_never_writes_through_a_chain_of_links(tmp_path: Path) -> None:
    (tmp_path / "x" / "y").mkdir(parents=True)
    with pytest.raises(InvalidParameterValue):
        extract_zip(_link_chain_zip(), tmp_path / "x" / "y" / "dest")
    assert not (tmp_path / "x" / "y" / "pwned.txt").exists()
    assert list((tmp_path / "x" / "y").iterdir()) == []
