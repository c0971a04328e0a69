"""Acks against commits. A 2xx is a promise that the row is committed; an ack the node
received before the real commit of its row's transaction (``pg_xact_commit_timestamp``,
not the insert's own stamp) is a broken promise that only a crash in between would show
as a loss. Both times come from the same machine's clock on the local stack."""

from __future__ import annotations

from chaos.verdict.evidence import Evidence
from chaos.verdict.result import Causality, Identity

SAMPLE = 20
MEASURED = "measured"


def causality(evidence: Evidence) -> Causality:
    if evidence.commit_times != MEASURED:
        return Causality(checked=0, acked_before_commit=0, measurable=False,
                         reason=evidence.commit_times)
    commits: dict[Identity, float] = {}
    for row in evidence.stored:
        if row.commit_ts is not None:
            key = (row.node_id, row.seq)
            commits[key] = min(row.commit_ts, commits.get(key, row.commit_ts))
    checked = 0
    early: list[tuple[float, Identity]] = []
    for g in evidence.generated:
        key = (g.node_id, g.seq)
        commit = commits.get(key)
        if g.acked_at is None or commit is None:
            continue
        checked += 1
        if g.acked_at < commit:
            early.append((commit - g.acked_at, key))
    early.sort(reverse=True)
    return Causality(checked=checked, acked_before_commit=len(early), measurable=True,
                     worst_lead_ms=early[0][0] * 1000.0 if early else None,
                     sample=sorted(key for _, key in early[:SAMPLE]))
