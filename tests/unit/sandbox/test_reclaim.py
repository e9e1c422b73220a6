from pathlib import Path

from lambdad.sandbox.reclaim import mounts_under


def test_mounts_under_picks_only_the_state_dir_deepest_first(tmp_path: Path) -> None:
    disks = tmp_path / "disks"
    text = "\n".join(
        [
            "/dev/vda / ext4 rw 0 0",
            f"/x.img {disks}/a/mnt ext4 rw 0 0",
            f"tmpfs {disks}/a/mnt/inner tmpfs rw 0 0",
            f"/y.img {tmp_path}/other/mnt ext4 rw 0 0",
            f"/z.img {disks}/with\\040space/mnt ext4 rw 0 0",
        ]
    )
    found = mounts_under(disks, text)
    assert found[0] == disks / "a/mnt/inner"
    assert set(found) == {disks / "a/mnt", disks / "a/mnt/inner", disks / "with space/mnt"}
