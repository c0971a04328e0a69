"""The Locust users: an edge node (store-and-forward over HTTP) and a dashboard (WebSocket).

Import this only from a locustfile: it imports Locust, which monkey-patches the process.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from typing import Any

import gevent
from locust import FastHttpUser, User, constant, task

from loadtests._backend import stream_head
from loadtests._dashboard import DashboardSession
from loadtests._evidence import CHANGE_MADE, CHANGE_REFUSED, CHANGE_UNKNOWN, evidence_for
from loadtests._options import RunOptions
from loadtests._outcomes import says_duplicate, send_outcome
from loadtests._tls import http_context_factory, ssl_context
from simulator import parse_retry_after
from simulator.payloads import make_detection, payload_bytes
from simulator.protocol import (
    DETECTIONS_BATCH_PATH,
    DETECTIONS_PATH,
    REGISTER_PATH,
    content_hash,
)

__all__ = ["DashboardUser", "EdgeNodeUser"]

BATCH_MAX = 100
MAX_RETRY_AFTER_S = 10.0
ENROLLMENT_ACTOR = "enrollment"  # the audit log's actor of a registration (the key's role)
STOP_FLUSH_ROUNDS = 50  # a final flush gives up after this many tries (or its deadline)


def _retry_after(response: Any) -> float:
    """Seconds the server asked us to wait (``Retry-After``), bounded; 1 s when unreadable."""
    seconds = parse_retry_after(response.headers.get("Retry-After"))
    return 1.0 if seconds is None else min(seconds, MAX_RETRY_AFTER_S)


def _json(response: Any) -> Any:
    """The answer's JSON body, or None when it has none (a cut mid-answer, an error page)."""
    try:
        return response.json()
    except ValueError:
        return None


def _error(response: Any) -> BaseException | None:
    """The transport exception of a failed request; a FastResponse that got an answer has
    no ``error`` attribute at all."""
    error = getattr(response, "error", None)
    return error if isinstance(error, BaseException) else None


def _raw(body: bytes) -> Any:
    """geventhttpclient sends bytes as they are; Locust's annotation only lists str/dict."""
    return body


class EdgeNodeUser(FastHttpUser):
    """One edge node: its own ``node_id`` and ``seq``, an in-memory outbox, idempotent resends.

    A detection leaves the outbox only on its ack (201, or 200 ``duplicate``); anything else
    (a reset, a timeout, 429/503) leaves it there for the next flush, byte-identical, so a
    resend of a stored item is answered as a duplicate and never becomes a second row.
    Every detection is recorded as generated when it is created (the ledger the verdict
    checks the database against); what is still in the outbox when Locust stops the user
    is sent by ``flush_at_stop``, which the gate calls once the faults are cleared.
    """

    network_timeout = 5.0
    connection_timeout = 3.0

    def __init__(self, environment: Any) -> None:
        self.opts = RunOptions.from_environment(environment)
        # before FastHttpUser makes its client: verify like the fleet (Locust's default
        # is not to verify at all)
        self.insecure = self.opts.tls.insecure
        self.ssl_context_factory = http_context_factory(self.opts.tls)
        super().__init__(environment)
        self.evidence = evidence_for(environment)
        self.node_id = f"{self.opts.node_prefix}-{uuid.uuid4().hex[:12]}"
        self.seq = 0
        self.outbox: deque[tuple[int, bytes]] = deque()
        self.token = ""

    def wait_time(self) -> float:
        return 1.0 / max(self.opts.edge_rate, 0.01)

    def on_start(self) -> None:
        self.evidence.add_edge(self)  # before registering: the gate reads it back
        self._register()

    def backlog(self) -> int:
        return len(self.outbox)

    def flush_at_stop(self, deadline: float) -> int:
        """Send what the outbox still holds, bounded by the monotonic ``deadline`` and
        ``STOP_FLUSH_ROUNDS``; returns how many items are left unsent. Called after Locust
        stopped this user (its greenlet is gone; its HTTP client still works)."""
        for _ in range(STOP_FLUSH_ROUNDS):
            if not self.outbox or time.monotonic() >= deadline:
                break
            if self.token or self._register():
                self._flush()
            if self.outbox:
                gevent.sleep(0.2)
        return len(self.outbox)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def _register(self) -> bool:
        body = {"node_id": self.node_id, "name": f"locust edge {self.node_id}", "model": "yolov8n"}
        headers = {"Authorization": f"Bearer {self.opts.enrollment_key}"}
        for attempt in range(10):
            requested = time.time()
            with self.client.post(REGISTER_PATH, json=body, headers=headers,
                                  name=REGISTER_PATH, catch_response=True) as resp:
                self._record_registration(requested, resp.status_code)
                if resp.status_code in (200, 201):
                    self.token = str(resp.json()["token"])
                    resp.success()
                    return True
                resp.failure(f"register answered {resp.status_code}")
                if resp.status_code in (401, 403):
                    self.evidence.counters["register_refused"] += 1
                    return False  # a wrong SENTINEL_ENROLLMENT_KEY does not heal by retrying
                delay = _retry_after(resp) if resp.status_code in (429, 503) else 0.2 * 2**attempt
            gevent.sleep(min(delay, 3.0))
        return False

    def _record_registration(self, requested: float, status: int) -> None:
        """The registration as a state change for the audit checks: 201 is audited as
        ``node.register``, 200 as ``node.reregister``, by the enrollment principal; a lost
        answer or a 5xx may have registered (its kind is then settled by the audit log);
        any other answer changed nothing."""
        answered = time.time()
        if status in (200, 201):
            kind, outcome = ("node.register" if status == 201 else "node.reregister",
                             CHANGE_MADE)
        elif status == 0 or status >= 500:
            kind, outcome = "node.register", CHANGE_UNKNOWN
        else:
            kind, outcome = "node.register", CHANGE_REFUSED
        self.evidence.record_change(kind, ENROLLMENT_ACTOR, self.node_id, requested,
                                    answered, outcome)

    def _attempt(self, seq: int, at: float, outcome: str, *, batch: bool,
                 duplicate: bool = False) -> None:
        self.evidence.record_attempt(self.node_id, seq, at, outcome, batch=batch,
                                     duplicate=duplicate)

    @task
    def detect(self) -> None:
        """Capture one detection into the outbox, then flush what the link lets through."""
        self.seq += 1
        captured_at = time.time()
        payload = make_detection(self.node_id, self.seq, captured_at)
        self.evidence.record_generated(self.node_id, self.seq, content_hash(payload), captured_at)
        self.outbox.append((self.seq, payload_bytes(payload)))
        if self.token or self._register():
            self._flush()

    def _flush(self) -> None:
        while self.outbox:
            sent = self._send_batch() if len(self.outbox) > 1 else self._send_one()
            if not sent:
                return  # the link or the server said wait: keep the outbox, retry next tick

    def _handle_refusal(self, resp: Any) -> None:
        status = resp.status_code
        if status in (429, 503):
            wait = _retry_after(resp)
            self.evidence.counters["retry_after_waits"] += 1
            resp.failure(f"{status}, Retry-After {wait:g}s")
            gevent.sleep(wait)
        elif status in (401, 403):
            resp.failure(f"{status}: token refused, re-registering")
            self.token = ""
        elif status == 0:
            self.evidence.counters["transport_errors"] += 1
            resp.failure(f"transport error: {resp.error!r}")
        else:
            resp.failure(f"unexpected {status}")

    def _ack(self, seq: int, status: int) -> None:
        self.evidence.record_ack(self.node_id, seq, status)

    def _send_one(self) -> bool:
        seq, body = self.outbox[0]
        sent_at = time.time()
        with self.client.post(DETECTIONS_PATH, data=_raw(body), headers=self._headers(),
                              name=DETECTIONS_PATH, catch_response=True) as resp:
            status = resp.status_code
            self._attempt(seq, sent_at, send_outcome(status, _error(resp)), batch=False,
                          duplicate=status == 200 and says_duplicate(_json(resp)))
            if status in (200, 201):
                if status == 200:
                    self.evidence.counters["duplicates_acked"] += 1
                self._ack(seq, status)
                self.outbox.popleft()
                resp.success()
                return True
            if status in (400, 409, 413, 422):
                # the server refused this item for good: resending cannot change the answer
                self.evidence.counters[f"refused_{status}"] += 1
                self.outbox.popleft()
                resp.failure(f"{status}: {(resp.text or '')[:200]}")
                return True
            self._handle_refusal(resp)
            return False

    def _send_batch(self) -> bool:
        items = list(self.outbox)[:BATCH_MAX]
        body = b'{"items":[' + b",".join(raw for _, raw in items) + b"]}"
        sent_at = time.time()
        with self.client.post(DETECTIONS_BATCH_PATH, data=_raw(body), headers=self._headers(),
                              name=DETECTIONS_BATCH_PATH, catch_response=True) as resp:
            answer = _json(resp) if resp.status_code == 200 else None
            if not isinstance(answer, dict):
                failed = send_outcome(resp.status_code, _error(resp))
                for seq, _raw_item in items:
                    self._attempt(seq, sent_at, failed, batch=True)
                self._handle_refusal(resp)
                return False
            done: set[int] = set()
            for result in answer.get("results", []):
                seq, status = int(result["seq"]), int(result["status"])
                self._attempt(seq, sent_at, str(status), batch=True,
                              duplicate=says_duplicate(result))
                if status in (200, 201):
                    self._ack(seq, status)
                    done.add(seq)
                elif status in (409, 422):
                    self.evidence.counters[f"refused_{status}"] += 1
                    done.add(seq)
            self.outbox = deque(item for item in self.outbox if item[0] not in done)
            resp.success()
            return bool(done)


class DashboardUser(User):
    """A dashboard: one WebSocket subscription per user, resumed with ``?since=``.

    Every delivered event is reported to Locust as request type ``WS``, name ``deliver``,
    with the delivery latency (receive time - ``committed_at``) as its response time, so
    the stats table, charts, CSV and HTML report show it next to the HTTP requests.
    """

    fixed_count = 2
    wait_time = constant(1)

    def on_start(self) -> None:
        opts = RunOptions.from_environment(self.environment)
        evidence = evidence_for(self.environment)
        evidence.started.wait(timeout=10)
        since = evidence.start_head
        if since is None:
            since = stream_head(opts)
        self.session = DashboardSession(
            f"dash-{uuid.uuid4().hex[:8]}", opts.stream_url, opts.viewer_token, since,
            self._report, ssl_context=ssl_context(opts.tls),
        )
        evidence.dashboards.append(self.session)
        self.session.start()

    def _report(self, latency_ms: float, size: int, error: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="WS", name="deliver" if error is None else "reconnect",
            response_time=latency_ms, response_length=size, exception=error, context={},
        )

    @task
    def watch(self) -> None:
        """The subscription reads in its own greenlet; this user only keeps it company."""
