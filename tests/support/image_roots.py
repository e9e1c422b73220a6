"""Container images built by the tests from scratch: a tiny root filesystem with Debian's
static busybox and a `/var/runtime/bootstrap` shell script that speaks the Runtime API
with busybox wget (no Python, no libc in the image).

`busybox_rootfs` makes the directory tree (what an image store unpacks an image into);
`aws_shaped` adds `/lambda-entrypoint.sh` as AWS's base images have it (the handler as
CMD, exported as _HANDLER, then `exec /var/runtime/bootstrap`); `layer_of` packs a
tree as one image layer (an uncompressed tar).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "wget", "grep", "sed", "tr", "cat", "id", "pwd", "env", "ls", "touch", "echo")

# One loop per event: wget -S shows the reply's headers on stderr, the request id among them.
# The handler is a shell function file in /var/task named by _HANDLER (or by $1).
BOOTSTRAP = r"""#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HANDLER="${_HANDLER:-$1}"
while true; do
  wget -q -S -O /tmp/event "$API/invocation/next" 2>/tmp/headers || exit 1
  id=$(grep -i 'lambda-runtime-aws-request-id:' /tmp/headers | sed 's/^[^:]*: *//' | tr -d '\r ')
  if response=$(. "/var/task/${HANDLER%%.*}.sh" "$HANDLER" "$@" 2>/tmp/error); then
    wget -q -O /dev/null --post-data "$response" "$API/invocation/$id/response"
  else
    wget -q -O /dev/null --post-data '{"errorType":"HandlerFailed","errorMessage":"failed"}' \
      "$API/invocation/$id/error"
  fi
done
"""

# What the handler answers: what it was started with and what it sees.
HANDLER = r"""touch /tmp/written
printf '{"handler":"%s","args":"%s","pwd":"%s","uid":"%s","image_var":"%s","fn_var":"%s",' \
  "$1" "$*" "$(pwd)" "$(id -u)" "$IMAGE_VAR" "$FN_VAR"
printf '"path":"%s","api":"%s","root":"%s","tmp":"%s","readonly":"%s","event":%s}' \
  "$PATH" "$AWS_LAMBDA_RUNTIME_API" "$(ls / | tr '\n' ' ')" "$(ls /tmp/written)" \
  "$(touch /x 2>/dev/null && echo no || echo yes)" "$(cat /tmp/event)"
"""

# AWS's base images: /lambda-entrypoint.sh takes the handler (CMD) as its one argument.
ENTRYPOINT = """#!/bin/sh
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
exec /var/runtime/bootstrap
"""


def busybox_rootfs(dest: Path, *, handlers: tuple[str, ...] = ("function",)) -> Path:
    """A root filesystem: /bin/busybox and its applets, /var/runtime/bootstrap and a
    handler at /var/task/NAME.sh for each of `handlers`. Returns `dest`."""
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", dest / "bin" / applet)
    _write(dest / "var" / "runtime" / "bootstrap", BOOTSTRAP, 0o755)
    for name in handlers:
        _write(dest / "var" / "task" / f"{name}.sh", HANDLER, 0o644)
    (dest / "etc").mkdir()
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    os.symlink("bin", dest / "sbin")  # a top-level symlink, as merged-/usr images have
    _readable(dest)
    return dest


def aws_shaped(dest: Path) -> Path:
    """`busybox_rootfs` plus AWS's /lambda-entrypoint.sh."""
    busybox_rootfs(dest)
    _write(dest / "lambda-entrypoint.sh", ENTRYPOINT, 0o755)
    return dest


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _readable(root: Path) -> None:
    """World-readable, as an image store's unpacked trees are (the sandbox's uid is no one)."""
    root.chmod(0o755)
    for p in root.rglob("*"):
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o044 | (0o011 if p.is_dir() else 0))


def layer_of(root: Path) -> bytes:
    """The tree at `root` as a layer tar (paths relative to it, owned by root)."""

    def normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        info.mtime = 1_700_000_000
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False, filter=normalized)
    return buffer.getvalue()
