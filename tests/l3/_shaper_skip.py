"""Skip a test module with the reason where the impairments cannot run on this host."""

from __future__ import annotations

import pytest

from chaos.l3 import impairments_available, l3_available


def require_impairments() -> None:
    """Skip the calling module unless L3 and the shaper (or netem) work here."""
    ok, why = l3_available()
    if ok:
        ok, why = impairments_available()
    if not ok:
        pytest.skip(why, allow_module_level=True)
