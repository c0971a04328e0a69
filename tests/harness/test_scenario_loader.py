"""Loading scenarios: every built-in, NAME or FILE resolution, and bad files that must name
the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.scenario import (
    ScenarioError,
    builtin_names,
    format_duration,
    list_builtins,
    load_scenario_text,
    parse_duration,
    resolve_scenario,
)

REQUIRED_BUILTINS = {"smoke", "arctic-satlink", "partition-heal", "blackout-drill",
                     "backend-crash", "db-restart", "dashboard-storm"}


def test_every_required_builtin_is_listed_with_a_one_line_description() -> None:
    listed = {b.name: b.description for b in list_builtins()}
    assert set(listed) >= REQUIRED_BUILTINS
    for name, description in listed.items():
        assert description and "\n" not in description, name


@pytest.mark.parametrize("name", sorted(REQUIRED_BUILTINS))
def test_builtin_loads(name: str) -> None:
    scenario = resolve_scenario(name)
    assert scenario.name == name
    assert scenario.steps, "a chaos scenario without a fault proves little"
    assert scenario.slos.max_lost == 0 and scenario.slos.max_duplicated == 0
    assert scenario.slos.max_missing == 0
    assert scenario.duration_s <= 60
    for step in scenario.steps:
        assert step.end_s <= scenario.duration_s


def test_smoke_is_the_ci_default_and_short() -> None:
    smoke = resolve_scenario(None)
    assert smoke.name == "smoke" and smoke.duration_s <= 35
    assert {s.kind for s in smoke.steps} == {"toxic", "cut"}
    assert smoke.fleet.nodes == 20 and smoke.fleet.rate == 2 and smoke.fleet.dashboards == 3


def test_arctic_satlink_combines_l3_loss_and_l4_latency() -> None:
    arctic = resolve_scenario("arctic-satlink")
    loss = next(s for s in arctic.steps if s.kind == "loss")
    toxic = next(s for s in arctic.steps if s.kind == "toxic")
    assert loss.link is not None and loss.link.name == "ingest"
    assert loss.action.describe().startswith("L3 loss 50%")
    assert "latency 600±200ms" in toxic.describe()


def test_partition_heal_cuts_ingest_for_20s_and_measures_recovery() -> None:
    scenario = resolve_scenario("partition-heal")
    (cut,) = scenario.steps
    assert cut.kind == "cut" and cut.for_s == 20 and scenario.slos.recovery_max_s is not None


def test_resolve_accepts_a_file_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nduration: 10s\nsteps:\n"
                    "  - {at: 1s, for: 2s, link: ingest, cut: {}}\n")
    scenario = resolve_scenario(str(path))
    assert scenario.name == "mine" and scenario.source == "mine.yaml"
    assert scenario.links["ingest"].proxy == "ingest"


def test_unknown_name_lists_the_builtins() -> None:
    with pytest.raises(ScenarioError) as info:
        resolve_scenario("no-such-scenario")
    assert "smoke" in str(info.value)
    assert set(builtin_names()) >= REQUIRED_BUILTINS


@pytest.mark.parametrize(("text", "seconds"), [
    ("20s", 20.0), ("1m30s", 90.0), ("500ms", 0.5), (3, 3.0), (1.5, 1.5), ("2m", 120.0),
    ("20", 20.0), ("1.5s", 1.5),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "-1s", "s", "1x", "1s2m3", True, None, "", -2])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for seconds in (0.5, 20.0, 90.0, 120.0):
        assert parse_duration(format_duration(seconds)) == seconds


GOOD_HEAD = """\
name: bad
duration: 30s
fleet:
  nodes: 5
  rate: 1
steps:
"""


@pytest.mark.parametrize(("steps", "line", "field", "words"), [
    # line 7 is the first step, GOOD_HEAD has 6 lines
    ("  - {at: 1s, for: abc, link: ingest, cut: {}}\n", 7, "steps[0].for",
     "expected a duration like '20s', got 'abc'"),
    ("  - at: 1s\n    for: 2s\n    link: ingest\n    cut: {}\n"
     "  - at: 5s\n    for: 2s\n    explode: {}\n", 13, "steps[1].explode",
     "unknown step type 'explode'"),
    ("  - at: 1s\n    for: 2s\n    cut: {}\n", 7, "steps[0].link", "needs a link"),
    ("  - at: 1s\n    for: 2s\n    link: uplink\n    cut: {}\n", 9, "steps[0].link",
     "unknown link 'uplink'"),
    ("  - at: 1s\n    for: 2s\n    link: ingest\n    loss: {fraction: 1.5}\n", 10,
     "steps[0].loss.fraction", "between 0 and 1"),
    ("  - at: 1s\n    for: 2s\n    link: ingest\n"
     "    toxic: {type: latency, attributes: {latncy: 100}}\n", 10,
     "steps[0].toxic.attributes.latncy", "unknown field"),
    ("  - at: 1s\n    for: 2s\n    link: ingest\n    toxic: {type: lag}\n", 10,
     "steps[0].toxic.type", "expected one of latency"),
    ("  - at: 25s\n    for: 10s\n    kill_backend: {}\n", 8, "steps[0].for",
     "past the scenario duration"),
    ("  - at: 1s\n    for: 2s\n    kill_backend: {}\n    restart_db: {}\n", 7, "steps[0]",
     "exactly one fault"),
    ("  - at: 1s\n    fro: 2s\n    kill_backend: {}\n", 8, "steps[0].fro",
     "unknown step type 'fro'"),
    ("  - at: 1s\n    for: 2s\n    blackout: {share: 0.5, nodes: [a]}\n", 9,
     "steps[0].blackout", "exactly one of 'share'"),
    ("  - at: 1s\n    for: 2s\n    link: ingest\n    kill_backend: {}\n", 9,
     "steps[0].link", "a 'kill_backend' step takes no link"),
    ("  - at: 1s\n    for: 2s\n    link: ingest\n    cut: yes\n", 10,
     "steps[0].cut", "expected the cut settings as a mapping"),
])
def test_bad_step_names_line_and_field(steps: str, line: int, field: str,
                                       words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(GOOD_HEAD + steps, source="bad.yaml")
    error = info.value
    assert (error.line, error.field) == (line, field), str(error)
    assert words in str(error)
    assert str(error).startswith(f"bad.yaml:{line}: {field}: ")


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("name: x\nduration: 30s\nfleet:\n  nodes: -3\n", 4, "fleet.nodes", ">= 1"),
    ("name: x\nduration: 30s\nfleet:\n  nods: 3\n", 4, "fleet.nods", "unknown field"),
    ("name: x\nduration: 30s\nslos:\n  max_lost: lots\n", 4, "slos.max_lost",
     "expected an integer"),
    ("name: x\nduration: soon\n", 2, "duration", "expected a duration"),
    ("duration: 30s\n", 1, "name", "missing required field 'name'"),
    ("name: x\nduration: 30s\nfleet:\n  payload_mix: {huge: 1}\n", 4,
     "fleet.payload_mix.huge", "unknown field"),
    ("name: x\nduration: 30s\nsteps: {at: 1s}\n", 3, "steps", "expected a list"),
])
def test_bad_top_level_fields_name_line_and_field(text: str, line: int, field: str,
                                                  words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, source="x.yaml")
    assert (info.value.line, info.value.field) == (line, field), str(info.value)
    assert words in str(info.value)


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text("name: x\nduration: 30s\nsteps:\n  - {at: 1s, for: [\n",
                           source="broken.yaml")
    assert info.value.line is not None and info.value.line >= 4
    assert str(info.value).startswith("broken.yaml:")


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        resolve_scenario(str(tmp_path / "absent.yaml"))


def test_payload_mix_is_normalised_and_overrides_apply() -> None:
    scenario = load_scenario_text(
        "name: x\nduration: 30s\nfleet: {payload_mix: {single: 3, crowd: 1}}\n")
    assert scenario.fleet.payload_mix == {"single": 0.75, "crowd": 0.25}
    changed = scenario.with_overrides(nodes=3, duration_s=10)
    assert changed.fleet.nodes == 3 and changed.duration_s == 10


def test_overlapping_steps_on_one_resource_are_refused() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(GOOD_HEAD
                           + "  - {at: 1s, for: 10s, link: ingest, loss: {fraction: 0.2}}\n"
                           + "  - {at: 5s, for: 2s, link: ingest, partition: {}}\n", "o.yaml")
    assert (info.value.line, info.value.field) == (8, "steps[1]")
    assert "overlaps steps[0] (line 7)" in str(info.value)
    # different layers on one link may overlap (arctic-satlink does exactly that)
    load_scenario_text(GOOD_HEAD
                       + "  - {at: 1s, for: 10s, link: ingest, loss: {fraction: 0.2}}\n"
                       + "  - {at: 1s, for: 10s, link: ingest, cut: {}}\n")


@pytest.mark.parametrize("name", sorted(REQUIRED_BUILTINS))
def test_builtin_toxic_names_are_unique_and_stable(name: str) -> None:
    first = [s.action.spec.name for s in resolve_scenario(name).steps  # type: ignore[attr-defined]
             if s.kind == "toxic"]
    again = [s.action.spec.name for s in resolve_scenario(name).steps  # type: ignore[attr-defined]
             if s.kind == "toxic"]
    assert first == again and len(set(first)) == len(first)


def test_the_documented_example_loads_with_every_step_type() -> None:
    import chaos.scenario

    doc = (Path(chaos.scenario.__file__).parent / "FORMAT.md").read_text()
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    scenario = load_scenario_text(example, "FORMAT.md")
    from chaos.scenario import registry

    assert {s.kind for s in scenario.steps} == set(registry())
    assert scenario.slos.recovery_max_s == 20 and scenario.fleet.payload_mix["large"] == 0
    assert scenario.slos.delivery_p99_scope == "all"
