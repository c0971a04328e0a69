"""Make a socket inside a network namespace, from this process.

``setns(CLONE_NEWNET)`` changes the namespace of the calling *thread* only, so
we do it in a throwaway thread: the socket it creates belongs to the
namespace for its whole life, and no other thread of ours is affected.
Python 3.11 has no ``os.setns``, hence ctypes.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

from chaos.l3._errors import L3Error

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise L3Error(f"setns(CLONE_NEWNET) failed: {os.strerror(err)}")


def socket_in_netns(
    namespace: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM
) -> socket.socket:
    """A new socket that lives in `namespace` (named as in ``ip netns``)."""
    result: list[socket.socket] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            fd = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            result.append(socket.socket(family, type))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker, name=f"setns-{namespace}", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise L3Error(f"cannot open a socket in netns {namespace}: {errors[0]}") from errors[0]
    return result[0]
