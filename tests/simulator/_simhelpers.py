"""Shared checks of the simulator's integration tests: what the backend stored vs the ledger."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from simulator.ledger import Ledger
from simulator.payloads import content_hash
from simulator.protocol import DETECTIONS_PATH, parse_stored_page, stored_page_params

#: Pages read at most (x 1000 items): a bound no test comes near.
_MAX_PAGES = 10_000


def stored_detections(url: str, token: str) -> list[dict[str, Any]]:
    """Every stored detection, through GET /api/detections, paged as the protocol says."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as c:
        for _page in range(_MAX_PAGES):
            r = c.get(DETECTIONS_PATH, params=stored_page_params(None, cursor))
            r.raise_for_status()
            page, cursor = parse_stored_page(r.json())
            items.extend(page)
            if cursor is None:
                return items
    raise AssertionError(f"more than {_MAX_PAGES} pages of stored detections")


def check_exactly_once(state: Path, items: list[dict[str, Any]]) -> dict[str, int]:
    """Every generated identity stored exactly once with its content; every dashboard saw
    every stored detection exactly once. Returns a few figures for the assertion messages."""
    stored = Counter((i["node_id"], int(i["seq"])) for i in items)
    dup_stored = {k: n for k, n in stored.items() if n > 1}
    assert not dup_stored, f"stored more than once: {list(dup_stored)[:10]}"
    with Ledger(state) as led:
        hashes = led.hashes()
        generated = set(hashes)
        assert generated, "the fleet generated nothing"
        lost = generated - set(stored)
        assert not lost, f"{len(lost)} generated detections not stored: {sorted(lost)[:10]}"
        extra = set(stored) - generated
        assert not extra, f"stored but never generated: {sorted(extra)[:10]}"
        altered = [
            (i["node_id"], i["seq"]) for i in items
            if content_hash(i) != hashes[(i["node_id"], int(i["seq"]))]
        ]
        assert not altered, f"stored content differs from generated: {altered[:10]}"
        assert not led.conflicts(), f"conflicts/rejections: {led.conflicts()[:5]}"
        assert led.unacked() == set(), "outbox not drained"
        want = Counter(dict.fromkeys(stored, 1))
        dashboards = led.dashboards()
        assert dashboards, "no dashboard in the ledger"
        for name, info in dashboards.items():
            got = led.received_detections(name)
            missing = set(want) - set(got)
            repeated = {k: n for k, n in got.items() if n > 1}
            assert not missing, f"{name} missed {len(missing)}: {sorted(missing)[:10]}"
            assert not repeated, f"{name} recorded repeats: {list(repeated)[:10]}"
            assert info.gaps == 0, f"{name}: {info.gaps} gaps {led.anomalies(name)[:5]}"
            assert info.duplicates == 0, f"{name}: {info.duplicates} repeated deliveries"
        return {"generated": len(generated), "dashboards": len(dashboards)}
