"""Run the Toxiproxy-compatible server: on the current loop, in a thread, or standalone.

The API and every proxy share one event loop (uvloop when installed), so toxics can be
changed on live connections without locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from types import TracebackType

from chaos.toxiproxy._http import Request, start_http_server
from chaos.toxiproxy.api import ToxiproxyAPI

log = logging.getLogger(__name__)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when it is installed (faster forwarding), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


class ToxiproxyServer:
    """The API listener plus its proxies, on the running event loop."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8474) -> None:
        self.host = host
        self.port = port
        self.api = ToxiproxyAPI()
        self._http: asyncio.Server | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._http = await start_http_server(self.api.handle, self.host, self.port)
        self.port = self._http.sockets[0].getsockname()[1]
        log.info("toxiproxy API listening on %s", self.url)

    async def stop(self) -> None:
        self.api.shutdown()
        if self._http is not None:
            self._http.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._http.wait_closed(), 2)
            self._http = None


class EmbeddedToxiproxy:
    """The server on its own thread and event loop, for tests and the harness.

    ``with EmbeddedToxiproxy() as tp: tp.url`` -- port 0 (the default) picks a free port.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = ToxiproxyServer(host, port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, timeout: float = 10.0) -> EmbeddedToxiproxy:
        self._thread = threading.Thread(target=self._run, name="toxiproxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("embedded toxiproxy did not start in time")
        if self._error is not None:
            raise RuntimeError(f"embedded toxiproxy failed to start: {self._error}")
        return self

    def _run(self) -> None:
        loop = new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            with contextlib.suppress(Exception):
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await self.server.stop()

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the server's loop thread (for tests poking at internals)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn)

    def stop(self, timeout: float = 10.0) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopped.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> EmbeddedToxiproxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def populate_from_file(api: ToxiproxyAPI, path: str) -> None:
    """Create the proxies listed in a JSON file (``toxiproxy-server -config``'s format)."""
    with open(path, "rb") as config:
        body = config.read()
    response = await api.populate(Request("POST", "/populate", {}, body))
    if response.status != 201:
        log.error("populating from %s failed: %s", path, response.body.decode())
    else:
        log.info("populated proxies from %s", path)


def serve(host: str = "127.0.0.1", port: int = 8474, config: str | None = None) -> None:
    """Run standalone until SIGINT/SIGTERM (``sentinel-chaos toxiproxy``)."""

    async def main() -> None:
        server = ToxiproxyServer(host, port)
        await server.start()
        if config:
            await populate_from_file(server.api, config)
        print(f"toxiproxy API listening on {server.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    loop = new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
