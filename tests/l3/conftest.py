"""L3 tests: real namespaces, veths and nftables; skipped with the reason where unavailable.

After every test no namespace, veth, nft table or state file of ours may be
left, except those of another process that is still running (a concurrent run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from chaos.l3 import Link, find_leftovers, l3_available, open_link


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    ours = [i for i in items if f"{os.sep}l3{os.sep}" in str(i.path)]
    if not ours:
        return
    ok, reason = l3_available()
    for item in ours:
        item.add_marker(pytest.mark.l3)
        if not ok:
            item.add_marker(pytest.mark.skip(reason=reason))


def _ours_left() -> list[str]:
    return [
        e.describe()
        for e in find_leftovers()
        if not (e.owner_alive and e.owner_pid != os.getpid())
    ]


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Fails the test if it leaves any namespace, veth, nft table or state file behind."""
    yield
    if not l3_available()[0]:
        return
    left = _ours_left()
    assert not left, f"L3 objects left behind: {left}"


@pytest.fixture
def link() -> Iterator[Link]:
    with open_link() as lk:
        yield lk
