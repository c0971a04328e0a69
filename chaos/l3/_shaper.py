"""The shaper process: ``python -m chaos.l3._shaper --device DEV --queue N --mark M``.

One per link direction, run in the namespace the packets leave from (``ip netns
exec`` for the namespace side: Python 3.11 has no ``os.setns`` and NFQUEUE binds
in the caller's namespace). An iptables rule on that side's veth egress sends
the packets to our queue; per packet we drop, hold, corrupt, reorder or
duplicate as `PacketPolicy` decides, and give the verdict when its time comes.

Wire to the parent (`_nfqueue.ShaperProcess`): it writes one JSON `Impairments`
per line on our stdin (applied live); we print ``ready <queue>`` once bound
(trying queue numbers upwards: a number bound by another process is busy). EOF
on stdin, SIGTERM or SIGINT: every held packet is released and we exit 0.
``--probe`` only binds and exits (the availability check).

Duplicates go out through a raw socket bound to the veth, carrying `--mark` so
our own rule lets them pass instead of queueing them again. A corrupted packet
is handed back with ``set_payload``: the kernel then marks its checksum
unverified, so the receiver's TCP/UDP checksum check fails and drops it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import signal
import socket
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING

from chaos.l3._impairments import Impairments
from chaos.l3._shaper_policy import PacketPolicy, flip_bit
from chaos.l3._shaper_queue import Timeline

if TYPE_CHECKING:
    from netfilterqueue import NetfilterQueue, Packet

QUEUE_TRIES = 64
MAX_QUEUED_PACKETS = 20_000
SOCKET_BUFFER_BYTES = 8 * 1024 * 1024
IDLE_WAKE_S = 0.5
SO_MARK = 36


class Shaper:
    """The NFQUEUE consumer: policy + timeline + the raw socket for duplicates."""

    def __init__(self, device: str, mark: int) -> None:
        self.policy = PacketPolicy(Impairments())
        self.timeline: Timeline[Packet] = Timeline()
        self._raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self._raw.setsockopt(socket.SOL_SOCKET, SO_MARK, mark)
        self._raw.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
        self._raw.setblocking(False)
        self.stopping = False

    def configure(self, impairments: Impairments) -> None:
        self.policy.impairments = impairments
        if impairments.reorder is not None:
            self.timeline.gap = impairments.reorder.gap

    def _send_copy(self, payload: bytes) -> None:
        dst = socket.inet_ntoa(payload[16:20])
        # a full socket buffer loses the copy, as a full netem queue would
        with contextlib.suppress(OSError):
            self._raw.sendto(payload, (dst, 0))

    def on_packet(self, pkt: Packet) -> None:
        ihl = 20
        length = pkt.get_payload_len()
        decision = self.policy.decide(max(0, length - ihl))
        if decision.drop:
            pkt.drop()
            return
        if decision.untouched:
            pkt.accept()
            return
        payload = pkt.get_payload()
        copy = None
        if decision.duplicate:
            copy = payload
        if decision.corrupt_bit is not None:
            pkt.set_payload(flip_bit(payload, decision.corrupt_bit))
        if decision.delay_s == 0.0 and not decision.hold_for_reorder and not len(self.timeline):
            pkt.accept()
            if copy is not None:
                self._send_copy(copy)
            return
        pkt.retain()
        after = (lambda: self._send_copy(copy)) if copy is not None else None
        self.timeline.add(pkt, time.monotonic() + decision.delay_s,
                          hold=decision.hold_for_reorder, after_release=after)


def _bind(nfq: NetfilterQueue, first: int, shaper: Shaper | None) -> int:
    def callback(pkt: Packet) -> None:
        if shaper is None:
            pkt.accept()
        else:
            shaper.on_packet(pkt)

    last: OSError | None = None
    for queue in range(first, first + QUEUE_TRIES):
        try:
            nfq.bind(queue, callback, max_len=MAX_QUEUED_PACKETS, sock_len=SOCKET_BUFFER_BYTES)
            return queue
        except OSError as exc:
            last = exc
    raise SystemExit(f"shaper: no free NFQUEUE number in {first}..{first + QUEUE_TRIES - 1}:"
                     f" {last}")


def _serve(nfq: NetfilterQueue, shaper: Shaper) -> None:
    sel = selectors.DefaultSelector()
    sel.register(nfq.get_fd(), selectors.EVENT_READ, "queue")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "control")
    pending = b""
    while not shaper.stopping:
        due = shaper.timeline.next_at()
        now = time.monotonic()
        timeout = IDLE_WAKE_S if due is None else min(IDLE_WAKE_S, max(0.0, due - now))
        for key, _ in sel.select(timeout):
            if key.data == "queue":
                nfq.run(block=False)
                continue
            chunk = os.read(sys.stdin.fileno(), 65536)
            if not chunk:
                shaper.stopping = True
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    shaper.configure(Impairments.from_json(line.decode()))
        shaper.timeline.release_due(time.monotonic())
    shaper.timeline.release_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.l3._shaper")
    parser.add_argument("--device", required=True, help="the veth whose egress is queued")
    parser.add_argument("--queue", type=int, required=True, help="first NFQUEUE number to try")
    parser.add_argument("--mark", type=lambda v: int(v, 0), required=True,
                        help="fwmark of our duplicates (our rule lets it pass)")
    parser.add_argument("--probe", action="store_true", help="bind, print ready, exit")
    args = parser.parse_args(argv)

    from netfilterqueue import NetfilterQueue

    nfq = NetfilterQueue()
    if args.probe:
        queue = _bind(nfq, args.queue, None)
        print(f"ready {queue}", flush=True)
        nfq.unbind()
        return 0
    shaper = Shaper(args.device, args.mark)

    def stop(signum: int, frame: FrameType | None) -> None:
        shaper.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    queue = _bind(nfq, args.queue, shaper)
    print(f"ready {queue}", flush=True)
    try:
        _serve(nfq, shaper)
    finally:
        nfq.unbind()
    return 0


if __name__ == "__main__":
    sys.exit(main())
