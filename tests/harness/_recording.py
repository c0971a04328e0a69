"""A minimal recording ``StepContext``: a test double of the interface the runner provides
(the real runner does not exist yet). Every call lands in one shared, ordered log."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chaos.scenario import ToxicSpec


@dataclass
class Log:
    calls: list[tuple[str, ...]] = field(default_factory=list)
    fail_on: set[str] = field(default_factory=set)
    delay_s: float = 0.0   # each call takes this long (like a real HTTP call or a restart)
    done: list[tuple[str, ...]] = field(default_factory=list)

    async def add(self, *call: str) -> None:
        self.calls.append(call)
        if call[0] in self.fail_on:
            raise RuntimeError(f"{call[0]} refused")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.done.append(call)


@dataclass
class Toxiproxy:
    log: Log

    async def add_toxic(self, proxy: str, toxic: ToxicSpec) -> None:
        await self.log.add("add_toxic", proxy, toxic.name, toxic.type, toxic.stream)

    async def remove_toxic(self, proxy: str, name: str) -> None:
        await self.log.add("remove_toxic", proxy, name)

    async def disable(self, proxy: str) -> None:
        await self.log.add("disable", proxy)

    async def enable(self, proxy: str) -> None:
        await self.log.add("enable", proxy)


@dataclass
class L3:
    log: Log

    async def set_loss(self, link: str, fraction: float, direction: str) -> None:
        await self.log.add("set_loss", link, f"{fraction:g}", direction)

    async def partition(self, link: str, direction: str) -> None:
        await self.log.add("partition", link, direction)

    async def set_bandwidth(self, link: str, rate_kbit: int, direction: str) -> None:
        await self.log.add("set_bandwidth", link, str(rate_kbit), direction)

    async def clear_bandwidth(self, link: str) -> None:
        await self.log.add("clear_bandwidth", link)

    async def heal(self, link: str) -> None:
        await self.log.add("heal", link)


@dataclass
class Backend:
    log: Log

    async def kill(self) -> None:
        await self.log.add("kill_backend")

    async def restart(self) -> None:
        await self.log.add("restart_backend")


@dataclass
class Database:
    log: Log

    async def stop(self) -> None:
        await self.log.add("stop_db")

    async def start(self) -> None:
        await self.log.add("start_db")


@dataclass
class Operator:
    log: Log

    async def blackout_activate(self, node_ids: Sequence[str], reason: str) -> None:
        await self.log.add("blackout_on", *node_ids)

    async def blackout_deactivate(self, node_ids: Sequence[str], reason: str) -> None:
        await self.log.add("blackout_off", *node_ids)


@dataclass
class Fleet:
    node_ids: Sequence[str]


@dataclass
class RecordingContext:
    log: Log
    toxiproxy: Toxiproxy | None
    l3: L3 | None
    backend: Backend | None
    database: Database | None
    operator: Operator | None
    fleet: Fleet
    unavailable: Mapping[str, str]


def recording_context(*, with_l3: bool = True, nodes: int = 8) -> RecordingContext:
    log = Log()
    return RecordingContext(
        log=log, toxiproxy=Toxiproxy(log), l3=L3(log) if with_l3 else None,
        backend=Backend(log), database=Database(log), operator=Operator(log),
        fleet=Fleet([f"edge-{i:04d}" for i in range(1, nodes + 1)]),
        unavailable={} if with_l3 else {"l3": "needs root, ip and nft (not root here)"})
