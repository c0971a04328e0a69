"""The load shape's fault timeline: read from a scenario, played on a real (embedded) Toxiproxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaos.toxiproxy import INGEST, STREAM, ToxiproxyControl, start_embedded
from loadtests._timeline import load_timeline, scenario_duration
from loadtests._toxiproxy import FaultPlayer


def test_smoke_timeline_is_playable() -> None:
    steps, skipped = load_timeline("smoke")
    assert skipped == []
    assert [(s.kind, s.proxy, s.at, s.end) for s in steps] == [
        ("toxic", INGEST, 4.0, 11.0), ("cut", STREAM, 7.0, 9.0), ("toxic", INGEST, 12.0, 15.0),
        ("cut", INGEST, 17.0, 20.0)]
    assert steps[0].toxic_type == "latency" and steps[0].attributes == {"latency": 150,
                                                                        "jitter": 50}


def test_steps_that_need_the_full_harness_are_skipped_with_a_reason() -> None:
    steps, skipped = load_timeline("arctic-satlink")
    assert [s.toxic_type for s in steps] == ["latency"]
    assert len(skipped) == 2 and all("needs the full harness" in line for line in skipped)


@pytest.fixture
def control() -> Iterator[ToxiproxyControl]:
    with start_embedded() as handle, ToxiproxyControl(handle.url) as ctl:
        ctl.create_stack_proxies("127.0.0.1:9", "127.0.0.1:9")
        yield ctl


def test_player_applies_and_clears_on_the_run_clock(control: ToxiproxyControl) -> None:
    steps, _ = load_timeline("smoke")
    player = FaultPlayer(control.url, steps)
    player.advance(1.0)
    assert control.toxics(INGEST) == [] and control.get_proxy(INGEST).enabled
    player.advance(5.0)
    assert [t.type for t in control.toxics(INGEST)] == ["latency"]
    player.advance(8.0)  # latency still on, the stream cut too
    assert [t.type for t in control.toxics(INGEST)] == ["latency"]
    assert not control.get_proxy(STREAM).enabled
    player.advance(13.0)  # both over, answers swallowed
    assert control.get_proxy(STREAM).enabled
    assert [t.type for t in control.toxics(INGEST)] == ["timeout"]
    player.advance(18.0)  # swallowing over, ingest cut on
    assert control.toxics(INGEST) == [] and not control.get_proxy(INGEST).enabled
    player.advance(21.0)
    assert control.get_proxy(INGEST).enabled
    summary = player.summary()
    assert summary["applied"] == 4 and summary["cleared"] == 4 and summary["errors"] == []
    assert control.toxics(STREAM) == []


def test_finish_clears_what_a_stopped_run_left_on(control: ToxiproxyControl) -> None:
    steps, _ = load_timeline("smoke")
    player = FaultPlayer(control.url, steps)
    player.advance(6.0)
    assert control.toxics(INGEST)
    player.finish(7.0)
    assert control.toxics(INGEST) == []


def test_api_errors_are_recorded_for_the_gate(control: ToxiproxyControl) -> None:
    control.delete_proxy(INGEST)  # the timeline names a proxy that is not there
    steps, _ = load_timeline("smoke")
    player = FaultPlayer(control.url, steps)
    player.advance(5.0)
    errors = player.summary()["errors"]
    assert isinstance(errors, list) and len(errors) == 1 and "404" in errors[0]


def test_scenario_duration_is_the_default_run_time() -> None:
    assert scenario_duration("smoke") == 30.0
