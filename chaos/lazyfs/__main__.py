"""``python -m chaos.lazyfs --backing DIR --mount DIR --control SOCKET``: serve one lazy
filesystem in the foreground until it is unmounted (``LazyMount`` runs this for you).

Its own process, so that FUSE's signal handlers and threads stay out of the harness.
The control socket takes one line, ``drop`` or ``stats``, and answers one JSON line.
If the process that started it dies, it unmounts itself (no mount is left behind).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import threading

from chaos.lazyfs._fuse import lazy_unmount


def _serve_control(sock: socket.socket, ops: object) -> None:
    from chaos.lazyfs._operations import LazyOperations

    assert isinstance(ops, LazyOperations)
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return  # the socket was closed: we are shutting down
        with conn, conn.makefile("rwb") as stream:
            command = stream.readline().strip().decode()
            answer: dict[str, object] = {"error": f"unknown command {command!r}"}
            if command == "drop":
                answer = dict(ops.drop_unsynced())
            elif command == "stats":
                answer = dict(ops.stats())
            stream.write(json.dumps(answer).encode() + b"\n")
            stream.flush()


def _watch_parent(parent: int, mount: str, stop: threading.Event) -> None:
    while not stop.wait(1.0):
        if os.getppid() != parent:
            lazy_unmount(mount)
            return


def main(argv: list[str] | None = None) -> int:
    import mfusepy

    from chaos.lazyfs._operations import LazyOperations

    parser = argparse.ArgumentParser(prog="python -m chaos.lazyfs")
    parser.add_argument("--backing", required=True)
    parser.add_argument("--trash", required=True)
    parser.add_argument("--mount", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--parent", type=int, default=os.getppid())
    args = parser.parse_args(argv)
    ops = LazyOperations(os.path.abspath(args.backing), os.path.abspath(args.trash))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(args.control)
    sock.listen(4)
    stop = threading.Event()
    threading.Thread(target=_serve_control, args=(sock, ops), daemon=True).start()
    threading.Thread(target=_watch_parent, args=(args.parent, args.mount, stop),
                     daemon=True).start()
    options: dict[str, object] = dict(
        foreground=True, fsname="lazyfs", default_permissions=True, attr_timeout=0,
        entry_timeout=0, negative_timeout=0)
    if os.geteuid() == 0:
        options["allow_other"] = True  # PostgreSQL runs as its own user when we are root
    try:
        mfusepy.FUSE(ops, args.mount, **options)
    finally:
        stop.set()
        sock.close()
        with contextlib.suppress(OSError):
            os.unlink(args.control)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
