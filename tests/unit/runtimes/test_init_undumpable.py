"""init makes itself non-dumpable (so a same-uid function can neither trace it nor take
its fds) with `_ctypes` alone; the runtime it execs is dumpable again."""

from __future__ import annotations

import subprocess
import sys

from lambdad.runtimes.launch import BOOTSTRAP_DIR

GET_DUMPABLE = "import ctypes; print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))"


def test_init_is_not_dumpable_and_its_child_is() -> None:
    code = (
        "import sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import init\n"
        "print(init.undumpable())\n"
        "print(sorted(sys.modules.keys() & {'ctypes', 'json', 're'}))\n"  # cold start cost
        f"{GET_DUMPABLE}\n"
        "sys.stdout.flush()\n"
        "import subprocess\n"
        f"subprocess.run([sys.executable, '-c', {GET_DUMPABLE!r}])\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(BOOTSTRAP_DIR)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out == ["True", "[]", "0", "1"], out
