from pathlib import Path

from lambdad.sandbox.base import Mount
from lambdad.sandbox.process import host_path

MOUNTS = (Mount(Path("/srv/code"), "/var/task"), Mount(Path("/srv/rt"), "/var/runtime/"))


def test_host_path_maps_longest_mount() -> None:
    assert host_path("/var/task/app.py", MOUNTS) == "/srv/code/app.py"
    assert host_path("/var/task", MOUNTS) == "/srv/code"
    assert host_path("/var/runtime/bootstrap", MOUNTS) == "/srv/rt/bootstrap"
    assert host_path("/var/taskx", MOUNTS) == "/var/taskx"
    assert host_path("/usr/bin/python3", MOUNTS) == "/usr/bin/python3"
