"""Benchmark: prints figures side by side (targets, not timed tests).

``python -m sentinel_backend.bench [--seconds S]``

* single-detection ingest, 64 concurrent keep-alive clients: the product (one uvicorn
  worker, group commit, ack after COMMIT) next to a no-database ceiling app (the same
  request validated and answered, nothing stored; benchmark-only, not in the API);
* batch ingest (1,000 per request) in detections/s next to raw asyncpg COPY into the
  same table on one connection;
* WebSocket delivery, commit -> receipt, with 100 subscribers at 1,000 detections/s.

Every loop is bounded in time and count. Load generation runs in this process with a
minimal HTTP/1.1 client, so the machine's cores are shared by client and server.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from .launcher import BackendProcess
from .migrate import migrate_dsn
from .pg import EmbeddedPostgres, free_port
from .validation import Invalid, validate_detection

CLIENTS = 64
_NEXT_SEQ: dict[str, int] = {}


def _detection(node_id: str, seq: int) -> dict[str, Any]:
    return {
        "node_id": node_id, "seq": seq, "event_id": str(uuid.uuid4()),
        "captured_at": datetime.now(UTC).isoformat(),
        "location": {"latitude": 69.65, "longitude": 18.96, "altitude_m": 12.0,
                     "accuracy_m": 4.5},
        "detections": [{"label": "person", "confidence": 0.91, "bbox": [0.1, 0.2, 0.3, 0.4],
                        "track_id": 7}],
        "detection_count": 1, "inference_time_ms": 23.5, "model": "yolov8n",
    }


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client (JSON bodies, Content-Length responses)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, token: str,
                      body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        lower = raw.lower()
        at = lower.find(b"content-length:")
        length = int(lower[at + 15: lower.find(b"\r\n", at)]) if at >= 0 else 0
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _register(url_host: str, port: int, key: str, node_ids: list[str]) -> list[str]:
    http = RawHttp(url_host, port)
    tokens = []
    for node_id in node_ids:
        status, body = await http.request("POST", "/api/nodes/register", key,
                                          orjson.dumps({"node_id": node_id}))
        assert status in (200, 201), body
        tokens.append(orjson.loads(body)["token"])
    http.close()
    return tokens


async def _single_ingest(host: str, port: int, tokens: list[str], prefix: str,
                         seconds: float, max_requests: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    sent = 0

    async def client(i: int) -> None:
        nonlocal errors, sent
        http = RawHttp(host, port)
        node_id = f"{prefix}{i}"
        try:
            while time.perf_counter() < stop_at and sent < max_requests:
                seq = _NEXT_SEQ[node_id] = _NEXT_SEQ.get(node_id, 0) + 1
                sent += 1
                body = orjson.dumps(_detection(node_id, seq))
                t0 = time.perf_counter()
                status, _ = await http.request("POST", "/api/detections", tokens[i], body)
                latencies.append(time.perf_counter() - t0)
                if status != 201:
                    errors += 1
        finally:
            http.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(len(tokens))))
    elapsed = time.perf_counter() - started
    return {"rps": len(latencies) / elapsed, "p50": _pct(latencies, 0.5) * 1000,
            "p99": _pct(latencies, 0.99) * 1000, "errors": errors, "n": len(latencies)}


async def _batch_ingest(host: str, port: int, token: str, node_id: str, batches: int,
                        concurrency: int) -> float:
    """Detections/s through the batch endpoint; bodies are built before the clock starts
    (as the COPY records are), so the figure is the server's, not the client's."""
    bodies = [orjson.dumps({"items": [_detection(node_id, b * 1000 + s)
                                      for s in range(1, 1001)]}) for b in range(batches)]

    async def client() -> None:
        http = RawHttp(host, port)
        try:
            while bodies:
                status, body = await http.request("POST", "/api/detections/batch", token,
                                                  bodies.pop())
                assert status == 200 and orjson.loads(body)["created"] == 1000, body[:200]
        finally:
            http.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return batches * 1000 / (time.perf_counter() - started)


async def _copy_rate(dsn: str, rows: int) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        records = []
        for s in range(1, rows + 1):
            det = _detection("copy-node", s)
            canonical = orjson.dumps(det, option=orjson.OPT_SORT_KEYS)
            records.append(("copy-node", s, uuid.UUID(det["event_id"]),
                            datetime.fromisoformat(det["captured_at"]), canonical.decode(),
                            hashlib.sha256(canonical).digest()))
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "detections", records=records,
            columns=["node_id", "seq", "event_id", "captured_at", "payload", "content_hash"])
        return rows / (time.perf_counter() - started)
    finally:
        await conn.close()


async def _subscribe(url: str, count: int, total: int,
                     seconds: float) -> tuple[list[float], int]:
    """`count` WebSocket subscribers; each receives `total` detections.

    Returns the latencies and how many subscribers the server closed (4008: too slow)."""
    import websockets
    from websockets.exceptions import ConnectionClosed

    latencies: list[float] = []
    connected = 0
    closed = 0

    async def subscriber() -> None:
        nonlocal connected, closed
        received = 0
        async with websockets.connect(url, max_size=None) as ws:
            await ws.recv()  # hello
            connected += 1
            if connected == count:
                print("ready", flush=True)
            try:
                async with asyncio.timeout(seconds + 15):
                    while received < total:
                        raw = await ws.recv()
                        now = time.time()
                        frame = orjson.loads(raw)
                        if frame["type"] != "events":
                            continue
                        for event in frame["events"]:
                            if event["type"] == "detection":
                                received += 1
                                committed = datetime.fromisoformat(event["committed_at"])
                                latencies.append(now - committed.timestamp())
            except TimeoutError:
                pass
            except ConnectionClosed:
                closed += 1

    await asyncio.gather(*(subscriber() for _ in range(count)), return_exceptions=True)
    return latencies, closed


def _run_subscriber_process(url: str, count: int, total: int, seconds: float,
                            out: str) -> None:
    try:
        import uvloop

        latencies, closed = uvloop.run(_subscribe(url, count, total, seconds))
    except ImportError:
        latencies, closed = asyncio.run(_subscribe(url, count, total, seconds))
    with open(out, "wb") as fh:
        fh.write(array("d", latencies).tobytes())
    with open(out + ".closed", "w") as fh:
        fh.write(str(closed))


async def _ws_delivery(backend: BackendProcess, tokens: list[str], prefix: str,
                       subscribers: int, rate: float, seconds: float,
                       processes: int = 2) -> dict[str, float]:
    """Subscribers run in `processes` child processes (one Python process cannot parse
    100 streams and pace the producers without becoming the bottleneck it measures)."""
    total = int(rate * seconds)
    per_node = total // len(tokens)
    total = per_node * len(tokens)
    url = f"{backend.ws_url}?token={backend.viewer_token}"
    tmp = tempfile.mkdtemp(prefix="sentinel-bench-")
    children: list[tuple[asyncio.subprocess.Process, str]] = []
    try:
        for n in range(processes):
            out = os.path.join(tmp, f"lat-{n}.bin")
            count = subscribers // processes + (1 if n < subscribers % processes else 0)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sentinel_backend.bench", "--subscribe", url,
                "--count", str(count), "--total", str(total), "--seconds", str(seconds),
                "--out", out, stdout=asyncio.subprocess.PIPE)
            children.append((proc, out))
        for proc, _ in children:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line.strip() == b"ready", line
        await asyncio.sleep(0.5)
        interval = len(tokens) / rate

        async def producer(i: int) -> None:
            http = RawHttp(backend.host, backend.port)
            next_at = time.perf_counter()
            try:
                for seq in range(1, per_node + 1):
                    next_at += interval
                    status, body = await http.request(
                        "POST", "/api/detections", tokens[i],
                        orjson.dumps(_detection(f"{prefix}{i}", seq)))
                    assert status == 201, body
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
            finally:
                http.close()

        await asyncio.gather(*(producer(i) for i in range(len(tokens))))
        latencies = array("d")
        closed = 0
        for proc, out in children:
            await asyncio.wait_for(proc.wait(), seconds + 30)
            with open(out, "rb") as fh:
                latencies.frombytes(fh.read())
            with open(out + ".closed") as text:
                closed += int(text.read() or 0)
    finally:
        for proc, _ in children:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    values = list(latencies)
    return {"p50": _pct(values, 0.5) * 1000, "p99": _pct(values, 0.99) * 1000,
            "max": max(values, default=float("nan")) * 1000,
            "delivered": len(values), "expected": total * subscribers, "closed": closed}


# ------------------------------------------------------------------ the ceiling app
def ceiling_app() -> Any:
    """Benchmark-only: the ingest request authenticated, validated, answered; no database."""
    app = FastAPI()
    token_to_node = {f"ceiling-token-{i}": f"ceil-{i}" for i in range(CLIENTS)}
    counter = iter(range(1, 1 << 62))

    @app.post("/api/detections")
    async def post(request: Request) -> Response:
        header = request.headers.get("authorization", "")
        node = token_to_node.get(header.removeprefix("Bearer "))
        if node is None:
            return Response(b'{"detail":"unknown token"}', 401, media_type="application/json")
        try:
            det = validate_detection(orjson.loads(await request.body()))
        except (Invalid, orjson.JSONDecodeError) as exc:
            return Response(orjson.dumps({"detail": str(exc)}), 422,
                            media_type="application/json")
        return Response(orjson.dumps({"id": next(counter), "node_id": det.node_id,
                                      "seq": det.seq, "duplicate": False}), 201,
                        media_type="application/json")

    return app


def _serve_ceiling(port: int) -> None:
    import uvicorn

    uvicorn.run(ceiling_app(), host="127.0.0.1", port=port, log_level="warning",
                access_log=False)


async def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"ceiling app did not listen on {port}")


async def _run(seconds: float, only: str | None = None) -> None:
    print(f"sentinel_backend benchmark ({os.cpu_count()} CPUs visible; client and server "
          "share them)", flush=True)
    pg = EmbeddedPostgres()
    pg.start()
    backend: BackendProcess | None = None
    try:
        admin = await asyncpg.connect(pg.dsn)
        await admin.execute('CREATE DATABASE "bench"')
        await admin.close()
        dsn = pg.dsn_for("bench")
        await migrate_dsn(dsn)
        backend = BackendProcess(dsn, env={"SENTINEL_LOG_LEVEL": "WARNING"}).start()
        host, port = backend.host, backend.port

        # 1. single-detection ingest vs the no-database ceiling
        if only in (None, "single"):
            await _single_part(host, port, backend, seconds)
        if only in (None, "batch"):
            await _batch_part(host, port, backend, dsn)
        if only in (None, "ws"):
            await _ws_part(backend, seconds)
    finally:
        if backend is not None:
            backend.close()
        pg.stop()


async def _single_part(host: str, port: int, backend: BackendProcess, seconds: float) -> None:
    ceiling: subprocess.Popen[bytes] | None = None
    try:
        cport = free_port()
        ceiling = subprocess.Popen([sys.executable, "-m", "sentinel_backend.bench",
                                    "--serve-ceiling", str(cport)])
        await _wait_port(cport)
        ctokens = [f"ceiling-token-{i}" for i in range(CLIENTS)]
        await _single_ingest("127.0.0.1", cport, ctokens, "ceil-", 1.0, 10_000)  # warm-up
        ceil = await _single_ingest("127.0.0.1", cport, ctokens, "ceil-", seconds, 200_000)
        ceiling.terminate()
        ceiling.wait(10)
        ceiling = None
        tokens = await _register(host, port, backend.enrollment_key,
                                 [f"single-{i}" for i in range(CLIENTS)])
        await _single_ingest(host, port, tokens, "single-", 1.0, 10_000)  # warm-up
        prod = await _single_ingest(host, port, tokens, "single-", seconds, 200_000)
        print("\nsingle-detection ingest, 64 concurrent clients, 1 uvicorn worker")
        print(f"  {'':28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
        print(f"  {'backend (group commit)':28}{prod['rps']:>10.0f}{prod['p50']:>10.1f}"
              f"{prod['p99']:>10.1f}{prod['errors']:>8.0f}")
        print(f"  {'no-database ceiling':28}{ceil['rps']:>10.0f}{ceil['p50']:>10.1f}"
              f"{ceil['p99']:>10.1f}{ceil['errors']:>8.0f}")
        print("  target: >= 2,000 req/s with ack after COMMIT", flush=True)
    finally:
        if ceiling is not None:
            ceiling.kill()
            ceiling.wait(10)


async def _batch_part(host: str, port: int, backend: BackendProcess, dsn: str) -> None:
    (btoken,) = await _register(host, port, backend.enrollment_key, ["batch-node"])
    batch_rate = await _batch_ingest(host, port, btoken, "batch-node", 40, 3)
    copy_rate = await _copy_rate(dsn, 40_000)
    print("\nbatch ingest (1,000 detections per request) vs raw asyncpg COPY")
    print(f"  {'POST /api/detections/batch':28}{batch_rate:>10.0f} det/s")
    print(f"  {'asyncpg COPY, 1 connection':28}{copy_rate:>10.0f} rows/s")
    print(f"  ratio {batch_rate / copy_rate:.2f} (target >= 0.50)", flush=True)


async def _ws_part(backend: BackendProcess, seconds: float) -> None:
    host, port = backend.host, backend.port
    wtokens = await _register(host, port, backend.enrollment_key,
                              [f"ws-{i}" for i in range(20)])
    ws = await _ws_delivery(backend, wtokens, "ws-", 100, 1000.0, seconds)
    print("\nWebSocket delivery, commit -> receipt, 100 subscribers, 1,000 det/s")
    print(f"  p50 {ws['p50']:.1f} ms   p99 {ws['p99']:.1f} ms   max {ws['max']:.1f} ms   "
          f"delivered {ws['delivered']:.0f}/{ws['expected']:.0f}   "
          f"subscribers closed as too slow (4008) {ws['closed']:.0f}")
    print("  target: p99 <= 100 ms", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sentinel_backend.bench",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="duration of each timed phase (default 5)")
    parser.add_argument("--only", choices=["single", "batch", "ws"],
                        help="run one part only (development; the report runs all)")
    parser.add_argument("--serve-ceiling", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--subscribe", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.subscribe:
        _run_subscriber_process(args.subscribe, args.count, args.total, args.seconds, args.out)
        return 0
    if args.serve_ceiling:
        _serve_ceiling(args.serve_ceiling)
        return 0
    try:
        import uvloop

        uvloop.run(_run(args.seconds, args.only))
    except ImportError:
        asyncio.run(_run(args.seconds, args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
