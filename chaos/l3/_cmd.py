"""Run ``ip``, ``nft`` and ``tc`` with errors that name the command and its stderr."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from chaos.l3._errors import L3Error

COMMAND_TIMEOUT_S = 15.0


def run(argv: Sequence[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run one command, return its stdout; raise L3Error if it fails and `check` is set."""
    try:
        proc = subprocess.run(
            list(argv),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise L3Error(f"{' '.join(argv)}: {exc}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise L3Error(f"{' '.join(argv)} failed (exit {proc.returncode}): {detail}")
    return proc.stdout


def in_netns(namespace: str | None, argv: Sequence[str]) -> list[str]:
    """`argv` run inside `namespace` (or as is for the root namespace)."""
    if namespace is None:
        return list(argv)
    return ["ip", "netns", "exec", namespace, *argv]


def nft(script: str, *, namespace: str | None = None) -> None:
    """Apply an nft script as one atomic transaction."""
    run(in_netns(namespace, ["nft", "-f", "-"]), stdin=script)
