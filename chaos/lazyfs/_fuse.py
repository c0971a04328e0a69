"""Is FUSE usable here, and how to unmount one mount point of ours."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess


def fuse_unavailable() -> str | None:
    """Why a lazy filesystem cannot be mounted here (one line), or ``None``."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse (FUSE is not available in this kernel or container)"
    if shutil.which("fusermount3") is None and os.geteuid() != 0:
        return "no fusermount3 (install fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:  # no libfuse3 shared library
        return f"mfusepy unusable: {exc}"
    return None


def unmount(mount: str, *, lazy: bool = False) -> bool:
    """Unmount our ``mount`` (and only it); True if the command succeeded."""
    tool = shutil.which("fusermount3")
    if tool is not None:
        cmd = [tool, "-u", "-z", mount] if lazy else [tool, "-u", mount]
    else:
        cmd = ["umount", "-l", mount] if lazy else ["umount", mount]
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    return False


def lazy_unmount(mount: str) -> None:
    unmount(mount, lazy=True)
