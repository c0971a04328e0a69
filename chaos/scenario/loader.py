"""Load a scenario file into a ``Scenario``, with errors that name the line and the field."""

from __future__ import annotations

from pathlib import Path

from chaos.scenario._errors import ScenarioError
from chaos.scenario._yaml import Field, compose
from chaos.scenario.model import (
    COVERAGE_PATHS,
    DELIVERY_SCOPES,
    LINK_NAMES,
    PAYLOAD_KINDS,
    Fleet,
    Scenario,
    Slos,
    Step,
)
from chaos.scenario.steps import registry
from chaos.scenario.steps._base import Link

TOP_LEVEL = ("name", "description", "duration", "drain", "fleet", "links", "steps", "slos")
STEP_COMMON = ("at", "for", "link")


def load_scenario_file(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file: {exc.strerror}",
                            source=str(path)) from exc
    return load_scenario_text(text, source=path.name)


def load_scenario_text(text: str, source: str = "<scenario>") -> Scenario:
    root = compose(text, source)
    if not root.is_mapping():
        raise root.error(f"expected a mapping at the top of the file, got {root.describe()}")
    root.only(TOP_LEVEL)
    name = root.require("name").text()
    description_field = root.get("description")
    description = description_field.text() if description_field else ""
    duration = root.require("duration").duration(minimum=1.0)
    slos = _slos(root.get("slos"))
    drain_field = root.get("drain")
    drain = drain_field.duration() if drain_field else slos.drain_timeout_s
    fleet = _fleet(root.get("fleet"))
    links = _links(root.get("links"))
    steps = _steps(root.get("steps"), links, duration)
    return Scenario(name=name, description=description, duration_s=duration, drain_s=drain,
                    fleet=fleet, links=links, steps=steps, slos=slos, source=source,
                    text=text)


def _fleet(field: Field | None) -> Fleet:
    if field is None:
        return Fleet()
    field.only(("nodes", "rate", "dashboards", "payload_mix"))
    default = Fleet()
    nodes = field.get("nodes")
    rate = field.get("rate")
    dashboards = field.get("dashboards")
    mix_field = field.get("payload_mix")
    mix = dict(default.payload_mix)
    if mix_field is not None:
        mix_field.only(PAYLOAD_KINDS)
        mix = {kind: value.number(minimum=0.0) for kind, value in mix_field.items()}
        total = sum(mix.values())
        if total <= 0:
            raise mix_field.error("expected at least one positive weight")
        mix = {kind: weight / total for kind, weight in mix.items()}
    return Fleet(nodes=nodes.integer(minimum=1) if nodes else default.nodes,
                 rate=rate.number(minimum=0.001) if rate else default.rate,
                 dashboards=dashboards.integer(minimum=0) if dashboards else default.dashboards,
                 payload_mix=mix)


def _links(field: Field | None) -> dict[str, Link]:
    links = {name: Link(name=name, proxy=name) for name in LINK_NAMES}
    if field is None:
        return links
    field.only(LINK_NAMES)
    for name, spec in field.items():
        spec.only(("proxy",))
        proxy = spec.get("proxy")
        links[name] = Link(name=name, proxy=proxy.text() if proxy else name)
    return links


def _slos(field: Field | None) -> Slos:
    default = Slos()
    if field is None:
        return default
    field.only(("max_lost", "max_duplicated", "max_missing", "max_dashboard_duplicates",
                "max_out_of_order", "delivery_p99_ms", "delivery_p99_scope", "drain_timeout_s",
                "recovery_max_s", "max_altered", "max_phantom", "max_acked_before_commit",
                "blackout_ack_max_s", "max_audit_missing", "max_audit_unexpected",
                "require_exercised"))

    def count(key: str, fallback: int) -> int:
        value = field.get(key)
        return value.integer(minimum=0) if value else fallback

    def seconds(key: str) -> float | None:
        value = field.get(key)
        return value.duration() if value else None

    drain_timeout = seconds("drain_timeout_s")

    p99 = field.get("delivery_p99_ms")
    scope = field.get("delivery_p99_scope")
    return Slos(
        max_lost=count("max_lost", default.max_lost),
        max_duplicated=count("max_duplicated", default.max_duplicated),
        max_missing=count("max_missing", default.max_missing),
        max_dashboard_duplicates=count("max_dashboard_duplicates",
                                       default.max_dashboard_duplicates),
        max_out_of_order=count("max_out_of_order", default.max_out_of_order),
        delivery_p99_ms=p99.number(minimum=1.0) if p99 else default.delivery_p99_ms,
        delivery_p99_scope=(scope.choice(DELIVERY_SCOPES) if scope
                            else default.delivery_p99_scope),
        drain_timeout_s=default.drain_timeout_s if drain_timeout is None else drain_timeout,
        recovery_max_s=seconds("recovery_max_s"),
        max_altered=count("max_altered", default.max_altered),
        max_phantom=count("max_phantom", default.max_phantom),
        max_acked_before_commit=count("max_acked_before_commit",
                                      default.max_acked_before_commit),
        blackout_ack_max_s=seconds("blackout_ack_max_s") or default.blackout_ack_max_s,
        max_audit_missing=count("max_audit_missing", default.max_audit_missing),
        max_audit_unexpected=count("max_audit_unexpected", default.max_audit_unexpected),
        require_exercised=_paths(field.get("require_exercised")),
    )


def _paths(field: Field | None) -> tuple[str, ...]:
    """``require_exercised: [idempotency, resume]``: names from ``COVERAGE_PATHS``."""
    if field is None:
        return ()
    return tuple(item.choice(COVERAGE_PATHS) for item in field.elements())


def _steps(field: Field | None, links: dict[str, Link], duration: float) -> tuple[Step, ...]:
    if field is None:
        return ()
    kinds = registry()
    steps: list[Step] = []
    for index, item in enumerate(field.elements()):
        if not item.is_mapping():
            raise item.error(f"expected a step mapping (at, for, and one fault), "
                             f"got {item.describe()}")
        faults = [key for key in item.field_names() if key not in STEP_COMMON]
        unknown = [key for key in faults if key not in kinds]
        if unknown:
            bad = item.get(unknown[0])
            assert bad is not None
            raise ScenarioError(
                f"unknown step type {unknown[0]!r}; a step has 'at', 'for', 'link' and one "
                f"of: {', '.join(kinds)}", source=item.source, line=bad.line, field=bad.path)
        if len(faults) != 1:
            got = ", ".join(faults) if faults else "none"
            raise item.error(f"expected exactly one fault (one of: {', '.join(kinds)}), "
                             f"got {got}")
        kind = faults[0]
        action_type = kinds[kind]
        at = item.require("at").duration()
        length = item.require("for").duration(minimum=0.1)
        link_field = item.get("link")
        link: Link | None = None
        if link_field is not None:
            link_name = link_field.text()
            if link_name not in links:
                raise link_field.error(f"unknown link {link_name!r}; expected one of: "
                                       f"{', '.join(links)}")
            if not action_type.needs_link:
                raise link_field.error(f"a '{kind}' step takes no link")
            link = links[link_name]
        elif action_type.needs_link:
            raise ScenarioError(f"a '{kind}' step needs a link (one of: {', '.join(links)})",
                                source=item.source, line=item.line,
                                field=f"{item.path}.link")
        if at + length > duration + 1e-9:
            raise item.require("for").error(
                f"the step runs until {at + length:g}s, past the scenario duration "
                f"{duration:g}s")
        params = item.require(kind)
        if not (params.is_mapping() or params.is_null()):
            raise params.error(f"expected the {kind} settings as a mapping (or {{}}), "
                               f"got {params.describe()}")
        action = action_type.parse(params, link)
        step = Step(index=index, at_s=at, for_s=length, action=action, link=link,
                    line=item.line)
        _check_overlap(step, steps, item)
        steps.append(step)
    return tuple(steps)


def _check_overlap(step: Step, earlier: list[Step], item: Field) -> None:
    resource = step.action.exclusive()
    if resource is None:
        return
    for other in earlier:
        if (other.action.exclusive() == resource and step.at_s < other.end_s
                and other.at_s < step.end_s):
            raise item.error(
                f"overlaps steps[{other.index}] (line {other.line}) on {resource}: the first "
                f"to end would revert both; make them follow each other")
