"""The two ingest INSERTs stay twins: the fast one is the other without ON CONFLICT.

Both are written out in full (so that an edit of one cannot silently make the fast path
the slow one); this keeps them from drifting apart in anything else.
"""

from __future__ import annotations

from sentinel_backend import ingest

_CLAUSE = "ON CONFLICT (node_id, seq) DO NOTHING"


def _lines(sql: str) -> list[str]:
    return [line.strip() for line in sql.strip().splitlines()]


def test_the_fast_insert_has_no_on_conflict_clause() -> None:
    assert "ON CONFLICT" not in ingest._INSERT_FAST.upper()
    assert ingest._INSERT.count(_CLAUSE) == 1


def test_the_two_inserts_differ_only_by_the_on_conflict_clause() -> None:
    slow = [line for line in _lines(ingest._INSERT) if line != _CLAUSE]
    assert slow == _lines(ingest._INSERT_FAST)
