"""A layer is hostile: every way out of its directory, every oversize, every
corruption is refused, and nothing lands outside."""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
from pathlib import Path

import pytest

from lambdad.images import ImageInvalid, ImageTooLarge
from lambdad.images.limits import ImageLimits
from lambdad.images.unpack import unpack_layer
from support.images import compress, directory, entry, file, hardlink, layer_tar, symlink

URI = "app:latest"


def unpack(tmp_path: Path, data: bytes, limits: ImageLimits | None = None) -> Path:
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    dest = tmp_path / "layer"
    dest.mkdir()
    unpack_layer(blob, dest, limits or ImageLimits(), URI)
    return dest


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
def test_files_dirs_links_unpacked(tmp_path: Path, compression: str) -> None:
    tar = layer_tar(
        [
            directory("./usr/"),
            file("./usr/hello.txt", "hi", mode=0o640),
            symlink("bin", "/usr/bin"),  # absolute targets are normal in a rootfs
            hardlink("usr/again.txt", "usr/hello.txt"),
            file("/etc/abs.conf", "x"),  # a leading slash is dropped, as docker does
        ]
    )
    dest = unpack(tmp_path, compress(tar, compression))
    assert (dest / "usr/hello.txt").read_text() == "hi"
    assert stat.S_IMODE(os.lstat(dest / "usr/hello.txt").st_mode) == 0o640
    assert os.readlink(dest / "bin") == "/usr/bin"
    assert os.stat(dest / "usr/again.txt").st_ino == os.stat(dest / "usr/hello.txt").st_ino
    assert (dest / "etc/abs.conf").read_text() == "x"
    assert os.stat(dest / "usr/hello.txt").st_mtime == 1_700_000_000


def test_setuid_bits_and_devices_dropped(tmp_path: Path) -> None:
    tar = layer_tar(
        [
            file("su", "x", mode=0o6755),
            entry("dev-null", kind=tarfile.CHRTYPE),
            entry("disk", kind=tarfile.BLKTYPE),
            entry("pipe", kind=tarfile.FIFOTYPE),
        ]
    )
    dest = unpack(tmp_path, tar)
    assert stat.S_IMODE(os.lstat(dest / "su").st_mode) == 0o755
    assert sorted(os.listdir(dest)) == ["su"]


@pytest.mark.parametrize(
    "entries",
    [
        [file("../escape", "x")],
        [file("a/../../escape", "x")],
        [symlink("out", "/"), file("out/escape", "x")],  # a write through a symlink
        [symlink("out", ".."), directory("out/sub")],
        [hardlink("passwd", "/etc/passwd")],  # a hard link to the host's file
        [hardlink("passwd", "../outside")],
        [symlink("s", "/etc/passwd"), hardlink("h", "s")],  # a hard link to a symlink's target
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "via-symlink",
        "dir-via-symlink",
        "abs-hardlink",
        "dotdot-hardlink",
        "hardlink-to-symlink",
    ],
)
def test_escapes_refused(tmp_path: Path, entries: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    (tmp_path / "outside").write_text("host")
    with pytest.raises(ImageInvalid, match="refused"):
        unpack(tmp_path, layer_tar(entries))
    assert not (tmp_path / "escape").exists()
    assert (tmp_path / "outside").read_text() == "host"
    assert not any(p.name == "escape" for p in Path("/").glob("escape"))


def test_size_bound(tmp_path: Path) -> None:
    tar = layer_tar([file("big", b"\0" * 200_000)])
    with pytest.raises(ImageTooLarge):
        unpack(tmp_path, tar, ImageLimits(max_bytes=100_000))


def test_file_count_bound(tmp_path: Path) -> None:
    tar = layer_tar([file(f"f{n}", "x") for n in range(20)])
    with pytest.raises(ImageTooLarge, match="more than 10 files"):
        unpack(tmp_path, tar, ImageLimits(max_entries=10))


def test_decompression_bomb_stops_at_the_bound(tmp_path: Path) -> None:
    # 64 MiB of zeros gzip to ~64 KiB; the bound stops it long before the end.
    tar = layer_tar([file("bomb", b"\0" * (64 << 20))])
    bomb = gzip.compress(tar, compresslevel=9)
    assert len(bomb) < 1 << 20
    with pytest.raises(ImageTooLarge):
        unpack(tmp_path, bomb, ImageLimits(max_bytes=1 << 20, max_entries=10))
    assert not (tmp_path / "layer" / "bomb").exists() or (
        (tmp_path / "layer" / "bomb").stat().st_size <= 2 << 20
    )


def test_huge_pax_header_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("x")
    info.pax_headers = {"comment": "a" * (2 << 20)}
    tar = layer_tar([(info, b"")])
    with pytest.raises(ImageInvalid, match="extended header"):
        unpack(tmp_path, tar)


def test_corrupt_gzip_refused(tmp_path: Path) -> None:
    good = gzip.compress(layer_tar([file("a", "x" * 10_000)]))
    corrupt = good[:20] + bytes(b ^ 0xFF for b in good[20:60]) + good[60:]
    with pytest.raises(ImageInvalid, match="corrupt"):
        unpack(tmp_path, corrupt)


def test_truncated_tar_refused(tmp_path: Path) -> None:
    tar = layer_tar([file("a", "x" * 10_000), file("b", "y" * 10_000)])
    with pytest.raises(ImageInvalid):
        unpack(tmp_path, tar[:12_000])


def test_later_entry_replaces_earlier(tmp_path: Path) -> None:
    dest = unpack(tmp_path, layer_tar([file("a", "one"), file("a", "two")]))
    assert (dest / "a").read_text() == "two"
