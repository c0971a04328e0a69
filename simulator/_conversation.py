"""A node's conversation with the backend: register, send, heartbeat, commands; when to retry.

Routes and bodies follow the wire contract (docs/api.md, names in
``simulator.protocol``). Every request here is idempotent (a detection is keyed by
node and seq), so a failure is always answered the same way: the node waits (the
retry policy) and tries again; only the answers themselves decide what leaves
the outbox. A 401 means the backend forgot the node's token (e.g. a new database):
the node drops it and registers again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from itertools import islice
from typing import Any

import orjson

from simulator._backoff import full_jitter, parse_retry_after
from simulator._clock_sampler import ClockSampler
from simulator._counters import FleetCounters
from simulator._http import HttpError, HttpPool, HttpResponse
from simulator._recorder import TickRecorder
from simulator._scheduler import Scheduler
from simulator._store import CHANGE_MADE, CHANGE_REFUSED, CHANGE_UNKNOWN
from simulator.node import NodeState
from simulator.payloads import node_home
from simulator.protocol import (
    DETECTIONS_BATCH_PATH,
    DETECTIONS_PATH,
    HEALTH_PATH,
    REGISTER_PATH,
    command_ack_path,
    commands_path,
    heartbeat_path,
)

__all__ = ["Conversation", "RetryPolicy"]

log = logging.getLogger("simulator.fleet")


class RetryPolicy:
    """How long a node waits before it tries again.

    An explicit ``Retry-After`` (429/503) wins, because the server knows its load,
    plus a little jitter so a fleet told the same second does not come back as one
    wave; otherwise exponential backoff with full jitter. Both draw from the fleet's
    seeded rng, so a run with the same seed retries on the same schedule.
    """

    def __init__(self, rng: random.Random, base_s: float, cap_s: float) -> None:
        self._rng = rng
        self._base_s = base_s
        self._cap_s = cap_s

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + self._rng.random() * min(0.25, 0.1 * retry_after)
        return full_jitter(attempt, self._base_s, self._cap_s, rng=self._rng)


def transport_outcome(exc: HttpError) -> str:
    """What a failed send looked like on the wire, for the ledger's ``attempt`` table:
    ``timeout``, ``refused``, ``reset`` (the connection dropped before the answer) or
    ``error``; read from the cause ``HttpPool`` chained to its ``HttpError``."""
    cause = exc.__cause__
    if isinstance(cause, TimeoutError):
        return "timeout"
    if isinstance(cause, ConnectionRefusedError):
        return "refused"
    if isinstance(cause, ConnectionResetError | BrokenPipeError | asyncio.IncompleteReadError):
        return "reset"
    if cause is not None and type(cause).__name__ == "_Stale":
        return "reset"
    return "error"


def _says_duplicate(resp: HttpResponse) -> bool:
    """The answer's ``"duplicate": true`` (an unreadable body says nothing: the status
    alone decides what leaves the outbox)."""
    try:
        body = resp.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("duplicate") is True


def _now_us() -> int:
    return time.time_ns() // 1000


def _node_actor(node: NodeState) -> str:
    """The audit actor the backend writes for a node's own requests."""
    return f"node:{node.node_id}"


def _retry_after(resp: HttpResponse) -> float | None:
    """The wait a 429/503 asked for (None for other statuses or without the header)."""
    if resp.status in (429, 503):
        return parse_retry_after(resp.headers.get("retry-after"))
    return None


class Conversation:
    """The requests of every node of one fleet, over one connection pool (a ``NodeWork``)."""

    def __init__(
        self,
        http: HttpPool,
        scheduler: Scheduler,
        recorder: TickRecorder,
        counters: FleetCounters,
        retry: RetryPolicy,
        *,
        enrollment_key: str,
        seed: int,
        batch_max: int,
        clock: ClockSampler | None = None,
    ) -> None:
        self._http = http
        #: Heartbeat answers carry the server's time: each is a clock-offset sample.
        self.clock = clock if clock is not None else ClockSampler()
        self._scheduler = scheduler
        self._recorder = recorder
        self._counters = counters
        self._retry = retry
        self._enrollment_key = enrollment_key
        self._seed = seed
        self._batch_limit = batch_max  # halved whenever the backend answers 413

    # -- shared answers --------------------------------------------------------

    def _fail(self, node: NodeState, status: int, retry_after: float | None) -> None:
        """Try again later (``status`` 0: a transport failure)."""
        now = asyncio.get_running_loop().time()
        node.attempt += 1
        self._counters.retries += 1
        if retry_after is not None:
            node.retry_reason_at = now
            node.last_retry_after = retry_after
            node.last_status = status
        node.retry_at = now + self._retry.delay(node.attempt, retry_after)
        self._scheduler.retry_later(node)

    def _token_refused(self, node: NodeState) -> None:
        """The backend does not know the node's token (401): drop it and register again."""
        node.token = None
        if not node.registering:
            log.warning("node %s: token refused (401), registering again", node.node_id)
            self._scheduler.queue_register(node)

    def _count_status(self, status: int) -> None:
        e = self._counters.status_errors
        e[status] = e.get(status, 0) + 1

    @staticmethod
    def _headers(node: NodeState) -> dict[str, str]:
        return {"Authorization": f"Bearer {node.token}", "Content-Type": "application/json"}

    # -- register --------------------------------------------------------------

    async def register(self, node: NodeState) -> None:
        """Enroll the node; its token is durable with the next tick."""
        lat, lon = node_home(node.node_id, self._seed)
        body = {"node_id": node.node_id, "name": node.node_id, "location": {
            "latitude": lat, "longitude": lon}}
        asked_us = _now_us()
        try:
            resp = await self._http.request(
                "POST", REGISTER_PATH, body=orjson.dumps(body),
                headers={"Authorization": f"Bearer {self._enrollment_key}",
                         "Content-Type": "application/json"},
            )
        except HttpError:
            self._counters.transport_errors += 1
            self._recorder.record_change("node.register", "enrollment", node.node_id,
                                         asked_us, _now_us(), CHANGE_UNKNOWN)
            node.status_unsure = True
            self._fail(node, 0, None)
            return
        kind = "node.register" if resp.status == 201 else "node.reregister"
        if resp.status in (200, 201):
            answer = resp.json()
            token = str(answer["token"])
            node.token = token
            node.status = str(answer.get("status") or "online")
            node.status_unsure = False
            self._recorder.record_change(kind, "enrollment", node.node_id, asked_us, _now_us(),
                                         CHANGE_MADE)
            self._recorder.record_token(node, token)
            self._counters.registrations += 1
            node.attempt = 0
            node.retry_at = 0.0
            self._scheduler.queue_send(node, asyncio.get_running_loop().time())
            return
        self._count_status(resp.status)
        self._recorder.record_change(kind, "enrollment", node.node_id, asked_us, _now_us(),
                                     CHANGE_UNKNOWN if resp.status >= 500 else CHANGE_REFUSED)
        if resp.status in (401, 403):
            log.error("register %s: %d %s (check SENTINEL_ENROLLMENT_KEY / --enrollment-key)",
                      node.node_id, resp.status, resp.text[:200])
        self._fail(node, resp.status, _retry_after(resp))

    # -- detections ------------------------------------------------------------

    async def send(self, node: NodeState) -> None:
        """Send the head of the node's outbox: one detection alone, a backlog as a batch."""
        if node.blackout or not node.pending or node.token is None or node.inflight:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if node.retry_at > now:
            return
        items = list(islice(node.pending, self._batch_limit))
        if node.retry_reason_at:
            self._recorder.record_retry_wait(node, now - node.retry_reason_at,
                                             time.time_ns() // 1000)
            self._counters.retry_after_waits += 1
            node.retry_reason_at = 0.0
        node.inflight = True
        sent_us = _now_us()
        try:
            try:
                if len(items) == 1:
                    resp = await self._http.request(
                        "POST", DETECTIONS_PATH, body=items[0][1], headers=self._headers(node),
                    )
                else:
                    body = b'{"items":[' + b",".join(it[1] for it in items) + b"]}"
                    resp = await self._http.request(
                        "POST", DETECTIONS_BATCH_PATH, body=body, headers=self._headers(node),
                    )
            except HttpError as exc:
                self._counters.transport_errors += 1
                self._recorder.record_attempts(node, (it[0] for it in items), sent_us,
                                               transport_outcome(exc), len(items) > 1)
                self._fail(node, 0, None)
                return
            self._counters.requests += 1
            self._counters.sent_items += len(items)
            try:
                self._on_send_response(node, items, resp, sent_us)
            except (ValueError, KeyError, TypeError) as exc:  # an answer we cannot read
                log.error("node %s: unreadable answer %d: %s", node.node_id, resp.status, exc)
                self._recorder.record_attempts(node, (it[0] for it in items), sent_us,
                                               str(resp.status), len(items) > 1)
                self._count_status(resp.status)
                self._fail(node, resp.status, None)
        finally:
            node.inflight = False
        self._scheduler.queue_send(node, loop.time())

    def _on_send_response(
        self, node: NodeState, items: list[tuple[int, bytes]], resp: HttpResponse, sent_us: int
    ) -> None:
        status = resp.status
        outcomes: list[tuple[int, int, str | None]] = []
        rec = self._recorder
        if status in (200, 201) and len(items) == 1:
            outcomes.append((items[0][0], status, None))
            duplicate = _says_duplicate(resp)
            rec.record_attempts(node, (items[0][0],), sent_us, str(status), False,
                                {items[0][0]} if duplicate else frozenset())
        elif status == 200:
            tried: list[tuple[int, str, bool]] = []
            for r in resp.json().get("results", []):
                # `index` is the item's position in the request; it is there even when the
                # item was too malformed to have a seq.
                i = r.get("index")
                seq = items[i][0] if isinstance(i, int) and 0 <= i < len(items) else r.get("seq")
                if isinstance(seq, int):
                    outcomes.append((seq, int(r["status"]), r.get("detail")))
                    tried.append((seq, str(r["status"]), r.get("duplicate") is True))
            rec.record_item_attempts(node, tried, sent_us, True)
        elif status in (409, 422, 400) and len(items) == 1:
            outcomes.append((items[0][0], status, resp.text[:500]))
            rec.record_attempts(node, (items[0][0],), sent_us, str(status), False)
        else:
            rec.record_attempts(node, (it[0] for it in items), sent_us, str(status),
                                len(items) > 1)
            if status == 401:
                self._count_status(status)
                self._token_refused(node)
            elif status == 413 and len(items) > 1:
                self._batch_limit = max(1, len(items) // 2)
                self._fail(node, status, 0.0)
            else:
                self._count_status(status)
                self._fail(node, status, _retry_after(resp))
            return
        done = self._settle(node, outcomes)
        n_done = len(done)
        self._recorder.forget_done(node, done)
        node.attempt = 0
        if n_done < len(items):
            self._fail(node, status, None)

    def _settle(self, node: NodeState, outcomes: list[tuple[int, int, str | None]]) -> set[int]:
        """Count and record each item's outcome; returns the seqs that leave the outbox
        (taken, or refused for good); the others (e.g. a 5xx for one item) stay."""
        us = time.time_ns() // 1000
        c = self._counters
        rec = self._recorder
        done: set[int] = set()
        for seq, st, detail in outcomes:
            if st in (200, 201):
                c.acked += 1
                if st == 200:
                    c.duplicates += 1
            elif st == 409:
                c.conflicts += 1
                rec.record_refused(node, seq, st, detail, us)
                log.error("node %s seq %d: 409 conflict (a bug): %s", node.node_id, seq, detail)
            elif st in (400, 413, 422):
                c.rejected += 1
                rec.record_refused(node, seq, st, detail, us)
                log.error("node %s seq %d: rejected %d: %s", node.node_id, seq, st, detail)
            else:
                continue
            rec.record_ack(node, seq, us, st)
            done.add(seq)
        return done

    # -- heartbeat -------------------------------------------------------------

    async def heartbeat(self, node: NodeState) -> None:
        """Report liveness and outbox depth; poll commands when the backend has some."""
        body = orjson.dumps(
            {"status": "covert" if node.blackout else "online", "outbox_depth": len(node.pending)}
        )
        asked_us = _now_us()
        t_send = time.time()
        try:
            resp = await self._http.request(
                "POST", heartbeat_path(node.node_id), body=body, headers=self._headers(node),
            )
        except HttpError:
            self._counters.heartbeat_failures += 1
            self._beat_unanswered(node, asked_us)
            return
        if resp.status != 200:
            self._counters.heartbeat_failures += 1
            if resp.status >= 500:
                self._beat_unanswered(node, asked_us)
            if resp.status == 401:
                self._token_refused(node)
            return
        t_recv = time.time()
        self._counters.heartbeats += 1
        answer = resp.json()
        self.clock.add(t_send, answer.get("server_time"), t_recv)
        self._status_answered(node, answer, asked_us)
        if answer.get("pending_commands"):
            self._scheduler.queue_commands(node)

    def _beat_unanswered(self, node: NodeState, asked_us: int) -> None:
        """A heartbeat without an answer may still have changed the node's status (the
        backend audits that), and the node is silent meanwhile (the backend may mark it
        offline by itself): the next answered heartbeat may be a change too."""
        node.status_unsure = True
        self._recorder.record_change("node.status", _node_actor(node), node.node_id, asked_us,
                                     _now_us(), CHANGE_UNKNOWN)

    def _status_answered(self, node: NodeState, answer: dict[str, Any], asked_us: int) -> None:
        """A node.status change is a heartbeat whose answered status differs from the one
        the node knew, unless the operator's blackout explains it (covert while in
        blackout, online after one). After a silence the node cannot tell whether the
        backend marked it offline meanwhile: that heartbeat is recorded as a change of
        unknown outcome, which the audit log confirms or not."""
        status = str(answer.get("status") or "")
        before = node.status
        if before == "covert" and not answer.get("blackout"):
            before = "online"
        explained = "covert" if answer.get("blackout") else before
        if node.status_unsure or (before is not None and status != explained):
            outcome = CHANGE_UNKNOWN if node.status_unsure else CHANGE_MADE
            self._recorder.record_change("node.status", _node_actor(node), node.node_id,
                                         asked_us, _now_us(), outcome)
        node.status = status
        node.status_unsure = False

    # -- commands --------------------------------------------------------------

    async def poll_commands(self, node: NodeState) -> None:
        """Claim the node's commands, apply them, make the result durable, then ack each."""
        if node.token is None:
            return
        try:
            resp = await self._http.request(
                "GET", commands_path(node.node_id), headers=self._headers(node),
            )
        except HttpError:
            self._counters.transport_errors += 1
            return
        if resp.status != 200:
            self._count_status(resp.status)
            return
        acks: list[tuple[str, str, int | None, dict[str, Any]]] = []
        us = time.time_ns() // 1000
        for cmd in resp.json().get("commands", []):
            cid, ctype = str(cmd["id"]), str(cmd["type"])
            self._counters.commands += 1
            result = self._apply(node, ctype, us)
            self._recorder.record_node(node)
            self._recorder.record_command(node, cid, ctype, us, orjson.dumps(result).decode())
            payload = cmd.get("payload")
            bid = payload.get("blackout_id") if isinstance(payload, dict) else None
            acks.append((cid, ctype, bid if isinstance(bid, int) else None, result))
        await self._recorder.flush_async()  # blackout state durable before the backend hears
        if not node.blackout:
            self._scheduler.queue_send(node, asyncio.get_running_loop().time())
        for cid, ctype, bid, result in acks:
            asked_us = _now_us()
            status = 0
            try:
                r = await self._http.request(
                    "POST", command_ack_path(node.node_id, cid),
                    body=orjson.dumps(result), headers=self._headers(node),
                )
                status = r.status
                if r.status != 200:
                    self._count_status(r.status)
            except HttpError:
                self._counters.transport_errors += 1  # the backend delivers it again
            queued = (result.get("result") or {}).get("queued")
            self._recorder.record_command_ack(
                node, cid, ctype, bid, queued if isinstance(queued, int) else None, asked_us,
                _now_us(), status)

    def _apply(self, node: NodeState, ctype: str, us: int) -> dict[str, Any]:
        """Carry out one command on the node; returns the ack body."""
        if ctype == "blackout_on":
            if not node.blackout:
                node.blackout = True
                node.blackout_queued = 0
                self._recorder.record_blackout_on(node, us)
            return {"ok": True}
        if ctype == "blackout_off":
            if node.blackout:
                node.blackout = False
                self._recorder.record_blackout_off(node, us)
            return {"ok": True, "result": {"queued": node.blackout_queued}}
        return {"ok": False, "result": {"error": f"unsupported command type {ctype}"}}

    # -- health ----------------------------------------------------------------

    async def stream_head(self, wait_s: float) -> int | None:
        """``stream_head`` from GET /health, retried for up to ``wait_s`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while True:  # bounded by the deadline
            try:
                r = await self._http.request("GET", HEALTH_PATH, timeout_s=2.0)
                if r.status == 200:
                    head = r.json().get("stream_head")
                    if isinstance(head, int):
                        return head
            except (HttpError, ValueError):
                pass
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.2)
