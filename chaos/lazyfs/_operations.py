"""The FUSE operations of the lazy filesystem: a loopback onto a backing directory whose
data writes stay in memory until fsynced, and whose namespace changes can be undone until
their directory is fsynced (see ``_pending`` and ``_journal``).

One lock serialises every operation: simple, and the cost is small next to FUSE's own.
Attributes (mode, owner, times) are applied at once and are never lost.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

import mfusepy

from chaos.lazyfs._journal import Change, NamespaceJournal, parent_of
from chaos.lazyfs._pending import PendingFile

_STAT_KEYS = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime_ns",
              "st_mtime_ns", "st_ctime_ns", "st_ino", "st_blocks", "st_blksize")


def _os_error(func: Any) -> Any:
    """mfusepy wants FuseOSError: turn a backing OSError into one with the same errno."""
    def wrapped(*args: Any) -> Any:
        try:
            return func(*args)
        except OSError as exc:
            raise mfusepy.FuseOSError(exc.errno or errno.EIO) from exc
    wrapped.__name__ = func.__name__
    wrapped.__doc__ = func.__doc__
    return wrapped


class LazyOperations(mfusepy.Operations):  # type: ignore[misc]
    use_ns = True

    def __init__(self, backing: str, trash: str) -> None:
        self.lock = threading.RLock()
        self.journal = NamespaceJournal(backing, trash)
        self.pending: dict[str, PendingFile] = {}
        self.synced_bytes = 0

    def _real(self, path: str) -> str:
        return self.journal.real(path)

    def _owner(self, real: str) -> None:
        uid, gid, _ = mfusepy.fuse_get_context()
        if os.geteuid() == 0 and uid >= 0:
            os.lchown(real, uid, gid)

    def _pending_for(self, path: str, fd: int) -> PendingFile:
        pending = self.pending.get(path)
        if pending is None:
            pending = self.pending[path] = PendingFile(os.fstat(fd).st_size)
        return pending

    # -- the one thing a power cut does ---------------------------------------------
    def drop_unsynced(self) -> dict[str, int]:
        """Forget every write not fsynced and undo every namespace change not made durable."""
        with self.lock:
            files = len(self.pending)
            pages = sum(len(p.pages) for p in self.pending.values())
            self.pending.clear()
            undone, failed = self.journal.undo_all()
            return {"files": files, "pages": pages, "namespace_undone": undone,
                    "namespace_undo_failed": failed}

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {"pending_files": len(self.pending),
                    "pending_pages": sum(len(p.pages) for p in self.pending.values()),
                    "pending_namespace": len(self.journal), "synced_bytes": self.synced_bytes}

    # -- attributes -------------------------------------------------------------------
    @_os_error
    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        with self.lock:
            st = os.lstat(self._real(path))
            attrs = {key: getattr(st, key) for key in _STAT_KEYS}
            pending = self.pending.get(path)
            if pending is not None:
                attrs["st_size"] = pending.size
                attrs["st_blocks"] = -(-pending.size // 512)
            return attrs

    @_os_error
    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._real(path), mode)
        return 0

    @_os_error
    def chown(self, path: str, uid: int, gid: int) -> int:
        os.lchown(self._real(path), uid, gid)
        return 0

    @_os_error
    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        if times is None:
            os.utime(self._real(path), follow_symlinks=False)
        else:
            os.utime(self._real(path), ns=times, follow_symlinks=False)
        return 0

    @_os_error
    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._real(path))
        return {key: getattr(st, key) for key in (
            "f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files",
            "f_flag", "f_frsize", "f_namemax")}

    @_os_error
    def readlink(self, path: str) -> str:
        return os.readlink(self._real(path))

    @_os_error
    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._real(path))]

    # -- namespace (undoable until the directory is fsynced) ------------------------
    @_os_error
    def mkdir(self, path: str, mode: int) -> int:
        with self.lock:
            os.mkdir(self._real(path), mode)
            self._owner(self._real(path))
            self.journal.record(Change(frozenset({parent_of(path)}), created=(path,)))
        return 0

    @_os_error
    def mknod(self, path: str, mode: int, dev: int) -> int:
        with self.lock:
            os.mknod(self._real(path), mode, dev)
            self._owner(self._real(path))
            self.journal.record(Change(frozenset({parent_of(path)}), created=(path,)))
        return 0

    @_os_error
    def symlink(self, target: str, source: str) -> int:
        with self.lock:
            os.symlink(source, self._real(target))
            self._owner(self._real(target))
            self.journal.record(Change(frozenset({parent_of(target)}), created=(target,)))
        return 0

    @_os_error
    def link(self, target: str, source: str) -> int:
        with self.lock:
            os.link(self._real(source), self._real(target))
            self.journal.record(Change(frozenset({parent_of(target)}), created=(target,)))
        return 0

    @_os_error
    def unlink(self, path: str) -> int:
        with self.lock:
            if os.path.isdir(self._real(path)) and not os.path.islink(self._real(path)):
                raise OSError(errno.EISDIR, "is a directory")
            self.pending.pop(path, None)
            name = self.journal.trash(path)
            self.journal.record(Change(frozenset({parent_of(path)}), trashed=((path, name),)))
        return 0

    @_os_error
    def rmdir(self, path: str) -> int:
        with self.lock:
            if os.listdir(self._real(path)):
                raise OSError(errno.ENOTEMPTY, "directory not empty")
            name = self.journal.trash(path)
            self.journal.record(Change(frozenset({parent_of(path)}), trashed=((path, name),)))
        return 0

    @_os_error
    def rename(self, old: str, new: str) -> int:
        with self.lock:
            real_new = self._real(new)
            os.lstat(self._real(old))  # ENOENT before anything moves
            trashed: tuple[tuple[str, str], ...] = ()
            if os.path.lexists(real_new):
                if os.path.isdir(real_new) and os.listdir(real_new):
                    raise OSError(errno.ENOTEMPTY, "directory not empty")
                self.pending.pop(new, None)
                trashed = ((new, self.journal.trash(new)),)
            os.rename(self._real(old), real_new)
            for key in [k for k in self.pending if k == old or k.startswith(old + "/")]:
                self.pending[new + key[len(old):]] = self.pending.pop(key)
            self.journal.record(Change(frozenset({parent_of(old), parent_of(new)}),
                                       moved=((old, new),), trashed=trashed))
        return 0

    @_os_error
    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        with self.lock:
            self.journal.commit_through(path)
            fd = os.open(self._real(path), os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return 0

    # -- data (in memory until fsynced) ----------------------------------------------
    @_os_error
    def create(self, path: str, mode: int, fi: Any = None) -> int:
        with self.lock:
            real = self._real(path)
            existed = os.path.lexists(real)
            fd = os.open(real, os.O_RDWR | os.O_CREAT, mode)
            if not existed:
                self._owner(real)
                self.journal.record(Change(frozenset({parent_of(path)}), created=(path,)))
            return fd

    @_os_error
    def open(self, path: str, flags: int) -> int:
        # Read-write whatever the caller asked: fsync writes the pending pages through it.
        try:
            return os.open(self._real(path), os.O_RDWR)
        except (PermissionError, IsADirectoryError):
            return os.open(self._real(path), os.O_RDONLY)

    @_os_error
    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        with self.lock:
            pending = self.pending.get(path)
            if pending is None:
                return os.pread(fh, size, offset)
            return pending.read(fh, size, offset)

    @_os_error
    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        with self.lock:
            return self._pending_for(path, fh).write(fh, data, offset)

    @_os_error
    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        with self.lock:
            fd = fh if fh is not None else os.open(self._real(path), os.O_RDONLY)
            try:
                self._pending_for(path, fd).truncate(length)
            finally:
                if fh is None:
                    os.close(fd)
        return 0

    @_os_error
    def fsync(self, path: str, datasync: int, fh: int) -> int:
        with self.lock:
            pending = self.pending.pop(path, None)
            if pending is not None:
                fd = os.open(self._real(path), os.O_WRONLY)  # fh may be read-only
                try:
                    self.synced_bytes += pending.flush_to(fd)
                finally:
                    os.close(fd)
            else:
                os.fsync(fh)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0  # close(2) is not fsync(2): nothing becomes durable here

    @_os_error
    def release(self, path: str, fh: int) -> int:
        os.close(fh)
        return 0
