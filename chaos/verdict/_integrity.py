"""Ledger against database: what was lost, stored twice, altered or never generated, and
the Jepsen-style accounting of acknowledged against stored."""

from __future__ import annotations

from collections import Counter

from chaos.verdict.evidence import ContentHash, Evidence
from chaos.verdict.result import Accounting, Identity, Integrity

SAMPLE = 20


def integrity(evidence: Evidence) -> Integrity:
    generated = {(g.node_id, g.seq): g.content_hash for g in evidence.generated}
    copies: Counter[Identity] = Counter()
    hashes: dict[Identity, set[ContentHash]] = {}
    for row in evidence.stored:
        key = (row.node_id, row.seq)
        copies[key] += row.copies
        hashes.setdefault(key, set()).add(row.content_hash)
    lost = sorted(set(generated) - set(copies))
    twice = sorted(key for key, n in copies.items() if n > 1)
    altered = sorted(key for key, seen in hashes.items()
                     if key in generated and seen != {generated[key]})
    unexpected = sorted(set(copies) - set(generated))
    bad = sorted(set(twice) | set(altered) | set(unexpected))
    return Integrity(generated=len(generated), stored=len(copies), lost=len(lost),
                     duplicated=len(bad), stored_twice=len(twice), altered=len(altered),
                     unexpected=len(unexpected), lost_sample=lost[:SAMPLE],
                     duplicated_sample=bad[:SAMPLE])


def accounting(evidence: Evidence) -> Accounting:
    copies: Counter[Identity] = Counter()
    for row in evidence.stored:
        copies[(row.node_id, row.seq)] += row.copies
    acked_stored = recovered = 0
    lost: list[Identity] = []
    unsent: list[Identity] = []
    for g in evidence.generated:
        key = (g.node_id, g.seq)
        stored = key in copies
        if g.acked_at is not None:
            if stored:
                acked_stored += 1
            else:
                lost.append(key)
        elif stored:
            recovered += 1
        else:
            unsent.append(key)
    lost.sort()
    unsent.sort()
    return Accounting(acked_stored=acked_stored, lost=len(lost), recovered=recovered,
                      unsent=len(unsent),
                      stored_twice=sum(1 for n in copies.values() if n > 1),
                      lost_sample=lost[:SAMPLE], unsent_sample=unsent[:SAMPLE])
