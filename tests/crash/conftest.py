"""Crash-class faults need FUSE for the lazy filesystem; skipped with the reason without."""

from __future__ import annotations

import pytest

from chaos.lazyfs import fuse_unavailable


@pytest.fixture
def fuse() -> None:
    why = fuse_unavailable()
    if why is not None:
        pytest.skip(f"FUSE unavailable: {why}")
