"""Where a run keeps the fleet's state: outboxes, the ledger and every node's bearer token.

Not in the report directory: that is what a CI job uploads, and ``fleet.db`` holds tokens.
Each run gets a directory of its own under a root (``--state-dir``, default
``$XDG_STATE_HOME/sentinel-chaos/runs``, else ``~/.local/state/sentinel-chaos/runs``), made
0700 (and its files 0600 once the fleet has closed them); the report names it
(``run.state_dir``). The verdict never needs it again: ``evidence.json`` is self-contained.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

__all__ = ["default_state_root", "new_state_dir", "seal_state_dir"]

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_MAX_FILES = 10_000  # a bound for the walk; a fleet writes a handful


def default_state_root() -> Path:
    """``$XDG_STATE_HOME/sentinel-chaos/runs`` (``~/.local/state`` when unset or relative,
    as the XDG base directory spec says)."""
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "sentinel-chaos" / "runs"


def new_state_dir(root: Path | None, name: str) -> Path:
    """A fresh, private directory ``<root>/<time>-<name>-<random>`` for one run."""
    name = re.sub(r"[^A-Za-z0-9]+", "", name)[:24] or "run"
    root = Path(root).expanduser() if root is not None else default_state_root()
    root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = root / f"{stamp}-{name}-{secrets.token_hex(3)}"
    path.mkdir(mode=_DIR_MODE)
    path.chmod(_DIR_MODE)  # whatever the umask made of it
    return path


def seal_state_dir(path: Path) -> None:
    """Files 0600 and directories 0700 under `path` (the fleet's SQLite files are created
    with the process's umask)."""
    seen = 0
    for current, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(current, name), _DIR_MODE)
        for name in files:
            os.chmod(os.path.join(current, name), _FILE_MODE)
            seen += 1
        if seen >= _MAX_FILES:
            return
