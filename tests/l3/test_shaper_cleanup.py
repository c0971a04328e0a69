"""Shaper cleanup: rules and processes go on close, on failure, on SIGTERM, after kill -9.

Only ours, by pid: a shaper is found through its link's state file, its rules through
our chain prefix in the root namespace's mangle table.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chaos.l3 import L3Error, Link, find_leftovers, open_link, remove_leftovers
from chaos.l3._iptables import our_root_chains

from ._arrivals import arrivals
from ._shaper_skip import require_impairments
from .test_cleanup import _alive, _wait_gone

require_impairments()

OWNER = Path(__file__).with_name("_shaping_owner.py")
ROOT = Path(__file__).resolve().parents[2]


def _start_owner() -> tuple[subprocess.Popen[str], str, list[int]]:
    proc = subprocess.Popen([sys.executable, str(OWNER)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert line and line[0] == "READY", f"owner did not start: {line!r}"
    return proc, line[1], [int(p) for p in line[2:]]


def test_close_after_an_exception_removes_shapers_and_rules() -> None:
    with pytest.raises(RuntimeError), open_link() as link:
        link.shape("delay", {"latency_s": 0.05}, "both")
        pids = link.shaper_pids
        assert len(pids) == 2 and link.names.nft_table in our_root_chains()
        raise RuntimeError("boom")
    assert link.names.nft_table not in our_root_chains()
    assert all(_wait_gone(pid) for pid in pids)


def test_a_shaper_that_dies_leaves_traffic_flowing_and_close_clean() -> None:
    """--queue-bypass: a dead shaper is no partition; the rule still goes on close."""
    with open_link() as link:
        link.shape("duplicate", {"fraction": 0.5}, "to_ns")
        (pid,) = link.shaper_pids
        os.kill(pid, signal.SIGKILL)
        assert _wait_gone(pid)
        got = arrivals(link, "to_ns", 200, drain_s=0.3)
        assert got.lost == 0 and got.duplicates == 0
        with pytest.raises(L3Error):
            link.shape("duplicate", {"fraction": 0.1}, "to_ns")  # said, not hidden
    assert link.names.nft_table not in our_root_chains()


def test_bad_figures_start_nothing(link: Link) -> None:
    with pytest.raises(ValueError):
        link.shape("delay", {"latency_s": 0.01, "jitter_s": 0.05}, "both")
    with pytest.raises(ValueError):
        link.shape("reorder", {"fraction": 1.5}, "to_ns")
    assert link.shaper_pids == [] and link.names.nft_table not in our_root_chains()


def test_sigterm_of_the_owner_removes_shapers_and_rules() -> None:
    proc, link_id, pids = _start_owner()
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    assert f"sc_{link_id}" not in our_root_chains()
    assert all(_wait_gone(pid) for pid in pids)
    assert link_id not in {e.link_id for e in find_leftovers()}


def test_kill_9_of_the_owner_leaves_what_netns_cleanup_removes() -> None:
    proc, link_id, pids = _start_owner()
    proc.kill()
    proc.wait(30)
    left = {e.link_id: e for e in find_leftovers()}
    assert link_id in left and left[link_id].iptables_chains == [f"sc_{link_id}"]
    assert "iptables mangle" in left[link_id].describe()
    removed = remove_leftovers()
    assert link_id in {e.link_id for e in removed}
    assert f"sc_{link_id}" not in our_root_chains()
    assert all(_wait_gone(pid) for pid in pids), [p for p in pids if _alive(p)]
