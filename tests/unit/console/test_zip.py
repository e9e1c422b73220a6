"""The console's zip reader and writer (static/js/zip.js), against Python's zipfile:
what one writes the other reads, names, contents and Unix modes intact."""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

from support.console_js import READ_STDIN, module_url, run_node

ROUND_TRIP = f"""
import {{ readZip, writeZip }} from "{module_url("zip.js")}";
{READ_STDIN}
const out = {{}};
try {{
  const entries = await readZip(new Uint8Array(Buffer.from(input.zip, "base64")));
  out.read = entries.map((e) => ({{
    name: e.name, mode: e.mode, data: Buffer.from(e.data).toString("base64"),
  }}));
}} catch (error) {{
  out.error = `${{error.constructor.name}}: ${{error.message}}`;
}}
const written = await writeZip(input.files.map((f) => ({{
  name: f.name, mode: f.mode, data: new Uint8Array(Buffer.from(f.data, "base64")),
}})));
out.written = Buffer.from(written).toString("base64");
console.log(JSON.stringify(out));
"""


def run(zip_bytes: bytes, files: list[tuple[str, bytes, int]]) -> dict[str, Any]:
    data = {
        "zip": base64.b64encode(zip_bytes).decode(),
        "files": [
            {"name": n, "data": base64.b64encode(d).decode(), "mode": m} for n, d, m in files
        ],
    }
    result: dict[str, Any] = run_node(ROUND_TRIP, data)
    return result


def python_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        stored = zipfile.ZipInfo("app.py")
        stored.external_attr = 0o100644 << 16
        archive.writestr(stored, "def handler(e, c):\n    return 1\n", zipfile.ZIP_STORED)
        archive.writestr("lib/", "")  # a directory entry: left out
        run_me = zipfile.ZipInfo("bootstrap")
        run_me.external_attr = 0o100755 << 16
        run_me.create_system = 3
        archive.writestr(run_me, "#!/bin/sh\necho hi\n" * 200, zipfile.ZIP_DEFLATED)
        archive.writestr("lib/data.bin", bytes(range(256)) * 50, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def test_reads_what_python_writes() -> None:
    result = run(python_zip(), [])
    read = {e["name"]: (base64.b64decode(e["data"]), e["mode"]) for e in result["read"]}
    assert set(read) == {"app.py", "bootstrap", "lib/data.bin"}
    assert read["app.py"][0] == b"def handler(e, c):\n    return 1\n"
    assert read["bootstrap"] == (b"#!/bin/sh\necho hi\n" * 200, 0o100755)
    assert read["lib/data.bin"][0] == bytes(range(256)) * 50


def test_python_reads_what_it_writes() -> None:
    files = [
        ("app.py", "print('héllo')\n".encode(), 0o100644),
        ("bootstrap", b"#!/bin/sh\n" + b"x" * 5000, 0o100755),
        ("empty.txt", b"", 0o100644),
    ]
    written = base64.b64decode(run(python_zip(), files)["written"])
    with zipfile.ZipFile(io.BytesIO(written)) as archive:
        assert archive.testzip() is None  # every CRC checks
        for name, data, mode in files:
            assert archive.read(name) == data
            assert archive.getinfo(name).external_attr >> 16 == mode
        assert archive.getinfo("bootstrap").compress_type == zipfile.ZIP_DEFLATED


def test_a_corrupt_archive_is_refused() -> None:
    good = python_zip()
    assert "ZipError" in run(good[: len(good) // 2], [])["error"]
    tampered = bytearray(good)
    tampered[good.index(b"def handler") + 4] ^= 0x20  # a stored entry's byte: its CRC fails
    assert "checksum mismatch" in run(bytes(tampered), [])["error"]
