"""A TCP relay whose upstream side lives in a network namespace: how the fleet's traffic
crosses the L3 link while the fleet stays an in-process asyncio object.

    python -m chaos.stack.relay --netns NS --listen 127.0.0.1:PORT --upstream ROOT_ADDR:PORT

The listening socket is made first, in the root namespace (the fleet connects to it on
loopback); then this single-threaded process joins ``NS`` with ``setns`` so every upstream
socket it opens afterwards belongs to the namespace. An upstream connection to the root
side's veth address therefore leaves the namespace through the veth pair: requests cross it
``from_ns`` (upstream, towards the backend), answers cross it ``to_ns`` (downstream). Each
byte crosses the lossy link exactly once per direction, as on a real satellite hop.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import signal
import socket

CLONE_NEWNET = 0x40000000
CHUNK = 65536
HALF_CLOSE_GRACE_S = 5.0


def join_netns(namespace: str) -> None:
    """Move this (single-threaded) process into ``namespace`` for sockets created from now on."""
    fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({namespace}) failed: {os.strerror(err)}")
    finally:
        os.close(fd)


def _split(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host, int(port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()


async def _handle(upstream: tuple[str, int], connect_timeout: float,
                  c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
    try:
        u_reader, u_writer = await asyncio.wait_for(
            asyncio.open_connection(*upstream), connect_timeout)
    except (OSError, TimeoutError):
        c_writer.transport.abort()  # the client sees a reset, as with a dead link
        return
    pipes = {asyncio.ensure_future(_pipe(c_reader, u_writer)),
             asyncio.ensure_future(_pipe(u_reader, c_writer))}
    try:
        # One side finished: give the other a grace period to deliver what is in flight,
        # then drop both (a half-open connection on a dead link must not live forever).
        _done, pending = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending, timeout=HALF_CLOSE_GRACE_S)
    finally:
        for task in pipes:
            task.cancel()
        for w in (c_writer, u_writer):
            w.transport.abort()


async def serve(listener: socket.socket, upstream: tuple[str, int],
                connect_timeout: float) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    handlers: set[asyncio.Task[None]] = set()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:  # a strong reference: the loop only keeps weak ones
            handlers.add(task)
            task.add_done_callback(handlers.discard)
        await _handle(upstream, connect_timeout, r, w)

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.stack.relay", description=__doc__)
    parser.add_argument("--netns", required=True, help="namespace (as in `ip netns`)")
    parser.add_argument("--listen", required=True, help="HOST:PORT in the root namespace")
    parser.add_argument("--upstream", required=True, help="HOST:PORT reached from the namespace")
    parser.add_argument("--connect-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(_split(args.listen))
    listener.listen(512)
    listener.setblocking(False)
    join_netns(args.netns)
    asyncio.run(serve(listener, _split(args.upstream), args.connect_timeout))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
