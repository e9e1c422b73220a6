"""The host's checks of a SnapStart template and of each environment forked from it
(`sandbox/restore.py`): what the kernel says, never what the sandbox says."""

from __future__ import annotations

from lambdad.sandbox.restore import shared_mount

TEMPLATE = """\
352 298 0:165 /newroot / rw,nosuid,nodev,relatime - tmpfs tmpfs rw
353 352 254:0 /usr /usr ro,nosuid,nodev,relatime - ext4 /dev/vda rw
358 352 0:166 / /proc ro,nosuid,nodev,noexec,relatime - proc proc rw
359 352 0:167 / /dev rw,nosuid,nodev,relatime - tmpfs tmpfs rw,mode=755
360 359 0:6 /null /dev/null rw,nosuid,relatime - devtmpfs devtmpfs rw
366 359 0:168 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw
367 352 7:4 / /tmp rw,nosuid,nodev,noatime - ext4 /dev/loop4 rw
"""

# The child's copy of each mount, its own on top of /tmp, /dev/shm and /dev/pts,
# and the template's root and /dev remounted read-only.
CHILD = """\
400 399 0:165 /newroot / ro,nosuid,nodev,relatime - tmpfs tmpfs rw
401 400 254:0 /usr /usr ro,nosuid,nodev,relatime - ext4 /dev/vda rw
402 400 0:166 / /proc ro,nosuid,nodev,noexec,relatime - proc proc rw
403 400 0:167 / /dev ro,nosuid,nodev,relatime - tmpfs tmpfs rw,mode=755
404 403 0:6 /null /dev/null rw,nosuid,relatime - devtmpfs devtmpfs rw
405 403 0:168 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw
406 400 7:4 / /tmp rw,nosuid,nodev,noatime - ext4 /dev/loop4 rw
407 406 0:200 / /tmp rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=524288k
408 403 0:201 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw
409 402 0:202 / /proc ro,nosuid,nodev,noexec,relatime - proc proc rw
410 405 0:203 / /dev/pts rw,nosuid,noexec,relatime - devpts devpts rw
"""


def test_a_child_with_its_own_writable_mounts_only_passes() -> None:
    assert shared_mount(CHILD, TEMPLATE) is None


def test_a_child_still_on_the_templates_tmp_is_refused() -> None:
    child = "\n".join(line for line in CHILD.splitlines() if not line.startswith("407 "))
    assert shared_mount(child, TEMPLATE) == "its /tmp is the template's"


def test_a_writable_mount_left_shared_is_refused() -> None:
    child = CHILD.replace("/ /dev ro,", "/ /dev rw,")
    assert shared_mount(child, TEMPLATE) == "a writable mount at /dev it would share"
    # One the function mounted in the template during Init: shared by every child.
    extra = CHILD + "411 400 0:99 / /var/cache rw,relatime - tmpfs tmpfs rw\n"
    assert shared_mount(extra, TEMPLATE) == "a writable mount at /var/cache it would share"


def test_a_child_without_its_own_shm_is_refused() -> None:
    child = "\n".join(line for line in CHILD.splitlines() if not line.startswith("408 "))
    assert shared_mount(child, TEMPLATE) == "no /dev/shm of its own"


def test_a_disk_attached_on_top_counts_wherever_mountinfo_lists_it() -> None:
    # move_mount(2) of the host's disk over the template's /tmp: listed before the mount
    # it sits on (its parent, 406), and the one the child reaches at /tmp.
    lines = CHILD.splitlines()
    disk = "399 406 7:9 / /tmp rw,nosuid,nodev,noatime - ext4 /dev/loop9 rw"
    child = "\n".join([disk, *(line for line in lines if not line.startswith("407 "))])
    assert shared_mount(child, TEMPLATE) is None
    # And the other way round: the template's disk on top of one of the child's own.
    flipped = child.replace("399 406 7:9", "399 400 7:9").replace("406 400 7:4", "406 399 7:4")
    assert shared_mount(flipped, TEMPLATE) == "its /tmp is the template's"
