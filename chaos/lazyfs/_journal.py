"""Namespace changes (create, mkdir, link, unlink, rmdir, rename) not yet made durable.

They are applied to the backing directory at once, so every later operation sees them,
and recorded here with what undoes them. A removed or replaced file is not deleted but
moved to the trash directory until the change is durable, so that it can be put back.

An fsync of a directory makes durable every recorded change up to the last one that
touched that directory (a prefix, as a journalling filesystem such as ext4 commits its
whole journal): the rest can still be undone, newest first, consistently.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from dataclasses import dataclass
from pathlib import PurePosixPath


def parent_of(path: str) -> str:
    return str(PurePosixPath(path).parent)


@dataclass(frozen=True)
class Change:
    """One applied change. ``created``: paths (relative to the backing root, ``/``-rooted)
    to remove on undo; ``moved``: (from, to) renames to reverse on undo; ``trashed``:
    (path, trash name) to put back on undo and delete on commit."""

    dirs: frozenset[str]
    created: tuple[str, ...] = ()
    moved: tuple[tuple[str, str], ...] = ()
    trashed: tuple[tuple[str, str], ...] = ()


class NamespaceJournal:
    """The undo log of a lazy filesystem; ``real`` maps a mount path to its backing path."""

    def __init__(self, backing: str, trash: str) -> None:
        self._backing = backing
        self._trash = trash
        self._changes: list[Change] = []
        self._names = itertools.count()

    def real(self, path: str) -> str:
        return os.path.join(self._backing, path.lstrip("/"))

    def __len__(self) -> int:
        return len(self._changes)

    def trash(self, path: str) -> str:
        """Move ``path`` into the trash; returns its name there."""
        name = f"{next(self._names)}"
        os.rename(self.real(path), os.path.join(self._trash, name))
        return name

    def record(self, change: Change) -> None:
        self._changes.append(change)

    def commit_through(self, directory: str) -> int:
        """An fsync of ``directory``: make durable the prefix ending at its last change."""
        last = max((i for i, c in enumerate(self._changes) if directory in c.dirs), default=-1)
        done, self._changes = self._changes[:last + 1], self._changes[last + 1:]
        for change in done:
            for _, name in change.trashed:
                _remove(os.path.join(self._trash, name))
        if done:
            _fsync_dir(self._trash)
        return len(done)

    def undo_all(self) -> tuple[int, int]:
        """Undo every change not made durable, newest first: (undone, that failed)."""
        undone = failed = 0
        while self._changes:
            change = self._changes.pop()
            try:
                for path in change.created:
                    _remove(self.real(path))
                for old, new in reversed(change.moved):
                    os.rename(self.real(new), self.real(old))
                for path, name in reversed(change.trashed):
                    os.rename(os.path.join(self._trash, name), self.real(path))
                undone += 1
            except OSError:
                failed += 1
        for directory in _all_dirs(self._backing):
            _fsync_dir(directory)
        return undone, failed


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(path) and not os.path.islink(path):
            for root, dirs, files in os.walk(path, topdown=False):
                for name in files:
                    os.unlink(os.path.join(root, name))
                for name in dirs:
                    os.rmdir(os.path.join(root, name))
            os.rmdir(path)
        else:
            os.unlink(path)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _all_dirs(root: str) -> list[str]:
    return [root] + [os.path.join(base, d) for base, dirs, _ in os.walk(root) for d in dirs]
