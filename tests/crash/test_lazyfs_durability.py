"""The lazy filesystem's durability rules, on a real FUSE mount: what a power cut keeps."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chaos.lazyfs import LazyMount

pytestmark = pytest.mark.usefixtures("fuse")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(path: Path, data: bytes, *, sync: bool) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        if sync:
            os.fsync(f.fileno())


def test_a_write_not_fsynced_is_lost_and_a_fsynced_one_kept() -> None:
    with LazyMount() as m:
        _write(m.path / "synced", b"durable", sync=True)
        _write(m.path / "lazy", b"volatile", sync=False)
        _fsync(m.path)  # both names durable; only one file's data
        assert (m.path / "lazy").read_bytes() == b"volatile"  # readable before the cut
        assert os.stat(m.path / "lazy").st_size == 8  # stat sees the overlay
        assert (m.backing / "lazy").stat().st_size == 0  # the disk does not
        lost = m.drop_unsynced()
        assert lost["files"] == 1
        assert (m.path / "synced").read_bytes() == b"durable"
        assert (m.path / "lazy").read_bytes() == b""


def test_overwrite_and_truncate_after_a_sync_revert_to_the_synced_bytes() -> None:
    with LazyMount() as m:
        target = m.path / "f"
        _write(target, b"A" * 10000, sync=True)
        _fsync(m.path)
        with open(target, "r+b") as f:
            f.seek(5000)
            f.write(b"B" * 100)
            f.truncate(20)
            f.seek(30)
            f.write(b"C")  # bytes 20..29 must read as zeros, not the old A's
        assert target.read_bytes() == b"A" * 20 + bytes(10) + b"C"
        m.drop_unsynced()
        assert target.read_bytes() == b"A" * 10000
        fd = os.open(target, os.O_RDWR)
        try:
            os.ftruncate(fd, 3)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        m.drop_unsynced()
        assert target.read_bytes() == b"AAA"


def test_a_create_without_a_directory_fsync_is_lost() -> None:
    with LazyMount() as m:
        (m.path / "dir").mkdir()
        _write(m.path / "dir" / "new", b"x", sync=True)  # data synced, name not
        m.drop_unsynced()
        assert not (m.path / "dir").exists()


def test_rename_is_durable_after_the_directory_fsync_and_undone_before() -> None:
    with LazyMount() as m:
        _write(m.path / "old", b"old", sync=True)
        _write(m.path / "tmp", b"new", sync=True)
        _fsync(m.path)
        os.rename(m.path / "tmp", m.path / "old")  # replace, not yet durable
        assert (m.path / "old").read_bytes() == b"new"
        m.drop_unsynced()
        assert sorted(os.listdir(m.path)) == ["old", "tmp"]
        assert (m.path / "old").read_bytes() == b"old"
        os.rename(m.path / "tmp", m.path / "old")
        _fsync(m.path)
        m.drop_unsynced()
        assert os.listdir(m.path) == ["old"]
        assert (m.path / "old").read_bytes() == b"new"


def test_an_unlink_without_a_directory_fsync_comes_back() -> None:
    with LazyMount() as m:
        _write(m.path / "f", b"data", sync=True)
        _fsync(m.path)
        os.unlink(m.path / "f")
        m.drop_unsynced()
        assert (m.path / "f").read_bytes() == b"data"
        os.unlink(m.path / "f")
        _fsync(m.path)
        m.drop_unsynced()
        assert not (m.path / "f").exists()


def test_close_unmounts_and_removes_only_what_it_made(tmp_path: Path) -> None:
    backing = tmp_path / "keep"
    mount = LazyMount(backing).mount()
    pid, path = mount.pid, mount.path
    _write(path / "f", b"kept", sync=True)
    _fsync(path)
    mount.close()
    assert pid is not None and not os.path.ismount(path) and not path.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert (backing / "f").read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]
