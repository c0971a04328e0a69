"""Step registry, each step's apply/revert, and the timeline player (timing, skip, cancel)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from chaos.scenario import (
    Action,
    Scenario,
    TimelinePlayer,
    UnknownStepType,
    get_step_type,
    load_scenario_text,
    registry,
)

from ._recording import recording_context

ALL_KINDS = {"toxic", "cut", "loss", "partition", "bandwidth", "flap", "blackout",
             "kill_backend", "restart_db", "kill_db", "power_cut", "pause_backend", "delay",
             "duplicate", "corrupt", "reorder", "clock_skew"}


def scenario(steps: str, duration: str = "30s") -> Scenario:
    return load_scenario_text(f"name: t\nduration: {duration}\nsteps:\n{steps}", "t.yaml")


def test_every_step_type_is_registered() -> None:
    kinds = registry()
    assert set(kinds) == ALL_KINDS
    for kind, step_type in kinds.items():
        assert issubclass(step_type, Action) and step_type.kind == kind
        assert step_type.summary, kind
        assert step_type.capability.partition(".")[0] in (
            "toxiproxy", "l3", "backend", "database", "operator", "fleet")


def test_unknown_step_type_names_the_known_ones() -> None:
    with pytest.raises(UnknownStepType, match="known: bandwidth"):
        get_step_type("meteor")


STEP_CALLS = [
    ("{link: ingest, toxic: {type: latency, attributes: {latency: 600, jitter: 200}}}",
     ("add_toxic", "ingest"), ("remove_toxic", "ingest")),
    ("{link: stream, cut: {}}", ("disable", "stream"), ("enable", "stream")),
    ("{link: ingest, loss: {fraction: '50%'}}", ("set_loss", "ingest", "0.5", "both"),
     ("heal", "ingest")),
    ("{link: ingest, partition: {direction: upstream}}",
     ("partition", "ingest", "upstream"), ("heal", "ingest")),
    ("{link: ingest, bandwidth: {rate_kbit: 64}}", ("set_bandwidth", "ingest", "64", "both"),
     ("clear_bandwidth", "ingest")),
    ("{kill_backend: {}}", ("kill_backend",), ("restart_backend",)),
    ("{restart_db: }", ("stop_db",), ("start_db",)),
    ("{blackout: {share: 0.25}}", ("blackout_on", "edge-0001", "edge-0005"),
     ("blackout_off", "edge-0001", "edge-0005")),
    ("{blackout: {nodes: [edge-0003]}}", ("blackout_on", "edge-0003"),
     ("blackout_off", "edge-0003")),
]


@pytest.mark.parametrize(("spec", "on_start", "on_stop"), STEP_CALLS)
async def test_step_applies_and_reverts(spec: str, on_start: tuple[str, ...],
                                        on_stop: tuple[str, ...]) -> None:
    (step,) = scenario(f"  - {{at: 0s, for: 1s, {spec[1:]}\n").steps
    ctx = recording_context()
    await step.action.start(ctx)
    assert ctx.log.calls[-1][: len(on_start)] == on_start
    await step.action.stop(ctx)
    assert ctx.log.calls[-1][: len(on_stop)] == on_stop
    assert step.describe()


async def test_flap_partitions_and_heals_and_ends_healed() -> None:
    (step,) = scenario("  - {at: 0s, for: 1s, link: ingest, flap: {down: 0.05s, up: 0.05s}}\n"
                       ).steps
    ctx = recording_context()
    await step.action.start(ctx)
    await asyncio.sleep(0.17)
    await step.action.stop(ctx)
    names = [call[0] for call in ctx.log.calls]
    assert names.count("partition") >= 2 and names[-1] == "heal"


async def test_player_runs_the_timeline_and_records_windows() -> None:
    loaded = scenario(
        "  - {at: 0s, for: 0.15s, link: ingest, toxic: {type: latency, "
        "attributes: {latency: 100}}}\n"
        "  - {at: 0.1s, for: 0.1s, link: ingest, cut: {}}\n"
        "  - {at: 0.05s, for: 0.1s, link: ingest, loss: {fraction: 0.5}}\n", duration="1s")
    ctx = recording_context(with_l3=False)
    player = TimelinePlayer(loaded.steps, ctx)
    windows = await asyncio.wait_for(player.run(), timeout=5)
    names = [call[0] for call in ctx.log.calls]
    assert names == ["add_toxic", "disable", "remove_toxic", "enable"]
    toxic, cut, loss = windows
    assert toxic.status == cut.status == "applied"
    assert loss.status == "skipped" and "needs root" in loss.reason
    assert loss.started_at is None and not loss.took_effect
    assert toxic.started_at is not None and toxic.ended_at is not None
    assert cut.started_at is not None and cut.ended_at is not None
    assert 0.12 <= toxic.ended_at - toxic.started_at < 1.0
    assert cut.started_at - toxic.started_at >= 0.08
    assert player.skipped() == [loss] and player.active() == []


async def test_cancel_reverts_active_faults_and_marks_later_steps_cancelled() -> None:
    loaded = scenario("  - {at: 0s, for: 20s, link: ingest, cut: {}}\n"
                      "  - {at: 0s, for: 20s, kill_backend: {}}\n"
                      "  - {at: 15s, for: 2s, link: stream, cut: {}}\n")
    ctx = recording_context()
    player = TimelinePlayer(loaded.steps, ctx)
    task = asyncio.create_task(player.run())
    await asyncio.sleep(0.1)
    assert {w.status for w in player.active()} == {"active"}
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    names = [call[0] for call in ctx.log.calls]
    assert sorted(names) == sorted(["disable", "kill_backend", "enable", "restart_backend"])
    cut, kill, later = player.windows
    assert cut.status == kill.status == "interrupted" and cut.ended_at is not None
    assert later.status == "cancelled" and later.started_at is None


async def test_a_step_that_fails_to_apply_is_recorded_and_still_reverted() -> None:
    loaded = scenario("  - {at: 0s, for: 0.1s, link: ingest, cut: {}}\n", duration="1s")
    ctx = recording_context()
    ctx.log.fail_on.add("disable")
    player = TimelinePlayer(loaded.steps, ctx)
    (window,) = await asyncio.wait_for(player.run(), timeout=5)
    assert window.status == "failed" and "disable refused" in window.reason
    assert [call[0] for call in ctx.log.calls] == ["disable", "enable"]


async def test_a_second_cancel_does_not_abort_a_revert_in_progress() -> None:
    loaded = scenario("  - {at: 0s, for: 20s, link: ingest, cut: {}}\n"
                      "  - {at: 0s, for: 20s, link: ingest, loss: {fraction: 0.3}}\n")
    ctx = recording_context()
    ctx.log.delay_s = 0.1       # every control call takes 100 ms, like a real one
    player = TimelinePlayer(loaded.steps, ctx)
    task = asyncio.create_task(player.run())
    await asyncio.sleep(0.25)   # both faults applied
    task.cancel()
    await asyncio.sleep(0.03)   # reverts under way
    task.cancel()               # a second Ctrl-C
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert sorted(c[0] for c in ctx.log.done) == ["disable", "enable", "heal", "set_loss"]
    assert [w.status for w in player.windows] == ["interrupted", "interrupted"]
    assert all(w.ended_at is not None for w in player.windows)
