"""Typed control of any Toxiproxy (real or embedded): sync for Locust/pytest, async for the harness.

Built on httpx rather than toxiproxy-python because that client keeps its server's host and
port in class attributes (``APIConsumer.host/port``), i.e. one global server per process,
and it swallows errors other than 400/404/409.

Every operation is written once, in ``chaos.toxiproxy._control_ops``, as a generator of API
calls. :class:`ToxiproxyControl` sends those calls with a blocking ``httpx.Client`` (plain
sockets, so cooperative under Locust's gevent) and :class:`AsyncToxiproxyControl` with an
``httpx.AsyncClient``; each lists the operations it offers, one line each, and nothing else
differs between them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, overload

import httpx

from chaos.toxiproxy import _control_ops as ops
from chaos.toxiproxy._control_model import (
    INGEST,
    STREAM,
    ProxyInfo,
    StackProxies,
    Stream,
    ToxicInfo,
    ToxiproxyError,
)
from chaos.toxiproxy._control_ops import ApiCall, Operation, raise_for_error

__all__ = [
    "INGEST",
    "STREAM",
    "AsyncToxiproxyControl",
    "ProxyInfo",
    "StackProxies",
    "Stream",
    "ToxicInfo",
    "ToxiproxyControl",
    "ToxiproxyError",
]

P = ParamSpec("P")
T = TypeVar("T")

#: No operation needs more; reaching it means an operation loops (``clear_toxics`` makes
#: one call per toxic, and a proxy with a thousand toxics is not a test set-up).
MAX_CALLS_PER_OPERATION = 1000


def _too_many_calls(operation: Operation[Any]) -> RuntimeError:
    name = getattr(operation, "__name__", "operation")
    return RuntimeError(f"toxiproxy {name} made more than {MAX_CALLS_PER_OPERATION} API calls")


class _Blocking(Generic[P, T]):
    """One operation of ``_control_ops`` as a method of :class:`ToxiproxyControl`.

    A descriptor rather than a written-out method, so the operation's signature and
    docstring are stated once, in ``_control_ops``, and typed through ``ParamSpec``.
    """

    def __init__(self, operation: Callable[P, Operation[T]]) -> None:
        self._operation = operation
        self.__doc__ = operation.__doc__

    @overload
    def __get__(self, control: None, owner: type[Any]) -> _Blocking[P, T]: ...
    @overload
    def __get__(self, control: ToxiproxyControl, owner: type[Any]) -> Callable[P, T]: ...
    def __get__(
        self, control: ToxiproxyControl | None, owner: type[Any]
    ) -> _Blocking[P, T] | Callable[P, T]:
        if control is None:
            return self
        operation = self._operation

        @functools.wraps(operation)
        def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return control._run(operation(*args, **kwargs))

        return method


class _Awaitable(Generic[P, T]):
    """One operation of ``_control_ops`` as a coroutine method of :class:`AsyncToxiproxyControl`."""

    def __init__(self, operation: Callable[P, Operation[T]]) -> None:
        self._operation = operation
        self.__doc__ = operation.__doc__

    @overload
    def __get__(self, control: None, owner: type[Any]) -> _Awaitable[P, T]: ...
    @overload
    def __get__(
        self, control: AsyncToxiproxyControl, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(
        self, control: AsyncToxiproxyControl | None, owner: type[Any]
    ) -> _Awaitable[P, T] | Callable[P, Coroutine[Any, Any, T]]:
        if control is None:
            return self
        operation = self._operation

        @functools.wraps(operation)
        async def method(*args: P.args, **kwargs: P.kwargs) -> T:
            return await control._run(operation(*args, **kwargs))

        return method


class ToxiproxyControl:
    """Blocking control of the Toxiproxy at ``url`` (e.g. ``http://127.0.0.1:8474``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ToxiproxyControl:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, call: ApiCall) -> httpx.Response:
        return raise_for_error(self._http.request(call.method, call.path, json=call.body))

    def _run(self, operation: Operation[T]) -> T:
        """Carry out one operation, call by call, and return its result."""
        try:
            call = next(operation)
            for _ in range(MAX_CALLS_PER_OPERATION):
                call = operation.send(self._send(call))
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            operation.close()
        raise _too_many_calls(operation)

    version = _Blocking(ops.version)
    proxies = _Blocking(ops.proxies)
    get_proxy = _Blocking(ops.get_proxy)
    create_proxy = _Blocking(ops.create_proxy)
    populate = _Blocking(ops.populate)
    delete_proxy = _Blocking(ops.delete_proxy)
    create_stack_proxies = _Blocking(ops.create_stack_proxies)
    add_toxic = _Blocking(ops.add_toxic)
    update_toxic = _Blocking(ops.update_toxic)
    remove_toxic = _Blocking(ops.remove_toxic)
    toxics = _Blocking(ops.toxics)
    clear_toxics = _Blocking(ops.clear_toxics)
    set_enabled = _Blocking(ops.set_enabled)
    cut = _Blocking(ops.cut)
    restore = _Blocking(ops.restore)
    reset = _Blocking(ops.reset)


class AsyncToxiproxyControl:
    """The same operations as :class:`ToxiproxyControl`, for asyncio code."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncToxiproxyControl:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send(self, call: ApiCall) -> httpx.Response:
        return raise_for_error(await self._http.request(call.method, call.path, json=call.body))

    async def _run(self, operation: Operation[T]) -> T:
        """Carry out one operation, call by call, and return its result."""
        try:
            call = next(operation)
            for _ in range(MAX_CALLS_PER_OPERATION):
                call = operation.send(await self._send(call))
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            operation.close()
        raise _too_many_calls(operation)

    version = _Awaitable(ops.version)
    proxies = _Awaitable(ops.proxies)
    get_proxy = _Awaitable(ops.get_proxy)
    create_proxy = _Awaitable(ops.create_proxy)
    populate = _Awaitable(ops.populate)
    delete_proxy = _Awaitable(ops.delete_proxy)
    create_stack_proxies = _Awaitable(ops.create_stack_proxies)
    add_toxic = _Awaitable(ops.add_toxic)
    update_toxic = _Awaitable(ops.update_toxic)
    remove_toxic = _Awaitable(ops.remove_toxic)
    toxics = _Awaitable(ops.toxics)
    clear_toxics = _Awaitable(ops.clear_toxics)
    set_enabled = _Awaitable(ops.set_enabled)
    cut = _Awaitable(ops.cut)
    restore = _Awaitable(ops.restore)
    reset = _Awaitable(ops.reset)
