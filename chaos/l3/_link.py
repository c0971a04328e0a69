"""One isolated link: a network namespace joined to the root namespace by a veth pair.

The side under test (a backend, a fleet) runs inside the namespace; the rest
of the run stays in the root namespace and reaches it at `ns_address`; a
process inside reaches back at `root_address`. Faults (loss, partition,
flapping, bandwidth) change while traffic flows. Everything is removed on
close, which the context manager, atexit and the signal handlers guarantee.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from chaos.l3 import _lifecycle
from chaos.l3._addressing import LinkAddresses, allocation_lock, pick_free_network
from chaos.l3._availability import require_l3
from chaos.l3._cmd import in_netns, nft, run
from chaos.l3._errors import L3Error
from chaos.l3._faults import Direction, Faults, chain_script
from chaos.l3._flap import Flapper
from chaos.l3._impairments import Impairments
from chaos.l3._link_shaping import LinkShaping
from chaos.l3._names import STATE_DIR, LinkNames, new_link_id
from chaos.l3._owner import process_start_time

log = logging.getLogger("chaos.l3")

PROCESS_STOP_TIMEOUT_S = 5.0


class Link:
    """A namespace + veth pair with faults; use `open_link()` (a context manager)."""

    def __init__(self, names: LinkNames, addresses: LinkAddresses) -> None:
        self.names = names
        self.addresses = addresses
        self._lock = threading.RLock()
        self._base = Faults()
        self._overlay: Faults | None = None
        self._applied: Faults | None = None
        self._flapper: Flapper | None = None
        self._procs: list[subprocess.Popen[Any]] = []
        self._shaping = LinkShaping(names, self._write_state)
        self._closed = False

    # -- what the caller connects to -------------------------------------------------
    @property
    def id(self) -> str:
        return self.names.link_id

    @property
    def namespace(self) -> str:
        return self.names.namespace

    @property
    def ns_address(self) -> str:
        """Connect here from the root namespace to reach the side under test."""
        return str(self.addresses.ns_address)

    @property
    def root_address(self) -> str:
        """Connect here from inside the namespace to reach a listener in the root namespace
        (it must listen on this address or on 0.0.0.0)."""
        return str(self.addresses.root_address)

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return (
            f"Link(id={self.id!r}, ns={self.namespace!r}, ns_address={self.ns_address}, "
            f"root_address={self.root_address}, faults={self.faults})"
        )

    # -- lifecycle --------------------------------------------------------------------
    @classmethod
    def create(cls) -> Link:
        """Build the namespace, the veth pair, addresses and (empty) nft tables."""
        require_l3()
        with allocation_lock():
            names = LinkNames(new_link_id())
            link = cls(names, pick_free_network())
            link._write_state()
            _lifecycle.register(link)
            try:
                link._build()
            except BaseException:
                link.close()
                raise
        log.info("l3 link %s up: ns=%s %s <-> %s", link.id, link.namespace,
                 link.root_address, link.ns_address)
        return link

    def _write_state(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        state = {
            "id": self.id,
            "pid": pid,
            "pid_start": process_start_time(pid),
            "network": str(self.addresses.network),
            "root_address": self.root_address,
            "ns_address": self.ns_address,
            "created": time.time(),
            "procs": [[pid, process_start_time(pid)]
                      for pid in [proc.pid for proc in self._procs] + self._shaping.pids],
        }
        path = STATE_DIR / f"{self.id}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)  # atomic: a concurrent sweep never reads half a file

    def _build(self) -> None:
        n, a = self.names, self.addresses
        plen = a.network.prefixlen
        run(["ip", "netns", "add", n.namespace])
        run(["ip", "link", "add", n.veth_root, "type", "veth",
             "peer", "name", n.veth_ns, "netns", n.namespace])
        run(["ip", "addr", "add", f"{a.root_address}/{plen}", "dev", n.veth_root])
        run(["ip", "link", "set", n.veth_root, "up"])
        run(["ip", "-n", n.namespace, "addr", "add", f"{a.ns_address}/{plen}", "dev", n.veth_ns])
        run(["ip", "-n", n.namespace, "link", "set", n.veth_ns, "up"])
        run(["ip", "-n", n.namespace, "link", "set", "lo", "up"])
        self._apply(force=True)

    def close(self) -> None:
        """Stop flapping, stop our processes, remove nft table, veth and namespace.

        Idempotent and best effort: every step runs even if an earlier one failed.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        errors: list[str] = []
        if self._flapper is not None:
            self._flapper.stop()
        errors += self._shaping.close()
        for proc in list(self._procs):
            try:
                self.stop_process(proc)
            except Exception as exc:
                errors.append(f"stop pid {proc.pid}: {exc}")
        n = self.names
        steps = [
            ["nft", "delete", "table", "inet", n.nft_table],
            ["ip", "link", "del", n.veth_root],
            ["ip", "netns", "del", n.namespace],
        ]
        for argv in steps:
            try:
                run(argv, check=False)
            except L3Error as exc:
                errors.append(str(exc))
        with contextlib.suppress(FileNotFoundError):
            (STATE_DIR / f"{self.id}.json").unlink()
        _lifecycle.unregister(self)
        if errors:
            log.warning("l3 link %s: cleanup problems: %s", self.id, "; ".join(errors))
        else:
            log.info("l3 link %s removed", self.id)

    def __enter__(self) -> Link:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise L3Error(f"l3 link {self.id} is closed")

    # -- faults -----------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """The faults in force now (base faults, plus a flap in its 'on' phase)."""
        with self._lock:
            return self._applied or Faults()

    def set_loss(self, fraction: float, direction: Direction | str = Direction.BOTH) -> None:
        """Drop `fraction` (0..1) of packets at random (nft numgen) in `direction`."""
        with self._lock:
            self._check_open()
            self._base = self._base.with_loss(fraction, Direction.parse(direction))
            self._apply()

    def partition(self, direction: Direction | str = Direction.BOTH) -> None:
        """Drop every IP packet in `direction` (one way or both)."""
        with self._lock:
            self._check_open()
            self._base = self._base.with_partition(True, Direction.parse(direction))
            self._apply()

    def heal(self) -> None:
        """Remove loss and partition (both directions) and stop flapping. Bandwidth caps stay."""
        self.stop_flapping()
        with self._lock:
            self._check_open()
            self._base = Faults()
            self._apply()

    def flap(
        self,
        *,
        on_s: float,
        off_s: float,
        loss: float | None = None,
        direction: Direction | str = Direction.BOTH,
    ) -> None:
        """Switch a fault on for `on_s`, off for `off_s`, until `stop_flapping()` or close.

        The fault is a partition when `loss` is None, else that loss fraction. It
        adds to the base faults set with `set_loss`/`partition`.
        """
        d = Direction.parse(direction)
        fault = Faults().with_partition(True, d) if loss is None else Faults().with_loss(loss, d)
        self.stop_flapping()  # not under the lock: the old flap thread may be waiting for it
        with self._lock:
            self._check_open()
            self._flapper = Flapper(self._set_overlay, fault, on_s, off_s)
            self._flapper.start()

    def stop_flapping(self) -> None:
        """Stop a flap (if any) and leave the base faults in force."""
        flapper = self._flapper
        if flapper is None:
            return
        flapper.stop()
        with self._lock:
            self._flapper = None
            if not self._closed:
                self._set_overlay(None)
        if flapper.error is not None:
            raise L3Error(f"flapping on link {self.id} failed: {flapper.error}")

    @property
    def flap_cycles(self) -> int:
        """Completed on/off cycles of the current flap (0 when not flapping)."""
        return self._flapper.cycles if self._flapper else 0

    def _set_overlay(self, overlay: Faults | None) -> None:
        with self._lock:
            if self._closed:
                return
            self._overlay = overlay
            self._apply()

    def _apply(self, force: bool = False) -> None:
        with self._lock:
            want = self._base if self._overlay is None else self._base.overlay(self._overlay)
            have = None if force else self._applied
            n = self.names
            if have is None or (want.loss_to_ns, want.partition_to_ns) != (
                have.loss_to_ns, have.partition_to_ns
            ):
                nft(chain_script(n.nft_table, n.veth_ns, want.loss_to_ns, want.partition_to_ns),
                    namespace=n.namespace)
            if have is None or (want.loss_from_ns, want.partition_from_ns) != (
                have.loss_from_ns, have.partition_from_ns
            ):
                nft(chain_script(n.nft_table, n.veth_root, want.loss_from_ns,
                                 want.partition_from_ns))
            self._applied = want

    def set_bandwidth(
        self, rate_kbit: int | None, direction: Direction | str = Direction.BOTH
    ) -> None:
        """Cap bandwidth at `rate_kbit` kbit/s with tc tbf in `direction`; None removes it."""
        with self._lock:
            self._check_open()
            self._shaping.set_cap(rate_kbit, Direction.parse(direction))

    # -- netem-class impairments (netem where the kernel has it, else the NFQUEUE shaper) --
    def shape(self, kind: str, params: Mapping[str, float],
              direction: Direction | str = Direction.BOTH) -> None:
        """Set one impairment `kind` (delay, duplicate, corrupt, reorder, loss) in
        `direction`; the others in force stay. `params` as `Impairments.with_kind` takes
        them: ``latency_s``/``jitter_s``/``correlation``, ``fraction`` (+ ``gap``), or the
        Gilbert-Elliott ``p``/``r``/``h``/``k``. L3Unavailable where neither netem nor the
        shaper works."""
        with self._lock:
            self._check_open()
            self._shaping.set(kind, params, Direction.parse(direction))

    def unshape(self, kind: str, direction: Direction | str = Direction.BOTH) -> None:
        """Remove impairment `kind` in `direction`; a shaper left with nothing stops."""
        with self._lock:
            self._check_open()
            self._shaping.clear(kind, Direction.parse(direction))

    @property
    def shaper_pids(self) -> list[int]:
        """The pids of this link's shaper processes (none with netem, or while unshaped)."""
        return self._shaping.pids

    def impairments(self, direction: Direction | str) -> Impairments:
        """What is in force one way (`to_ns` or `from_ns`)."""
        with self._lock:
            return self._shaping.impairments(Direction.parse(direction))

    # -- processes and sockets inside ---------------------------------------------------
    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start `argv` inside the namespace (``ip netns exec`` execs it: the Popen's pid is
        the command's). It runs in a new session and is stopped (its process group,
        by pid) when the link closes, or earlier with `stop_process`."""
        self._check_open()
        kwargs.setdefault("start_new_session", True)
        proc: subprocess.Popen[Any] = subprocess.Popen(
            in_netns(self.namespace, argv), **kwargs
        )
        self._procs.append(proc)
        self._write_state()  # so a sweep after a crash can stop it (by pid + start time)
        return proc

    def stop_process(self, proc: subprocess.Popen[Any], timeout: float = PROCESS_STOP_TIMEOUT_S
                     ) -> int:
        """SIGTERM the process (group) we started, SIGKILL after `timeout`; its exit code."""
        if proc.poll() is None:
            self._signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(proc, signal.SIGKILL)
                proc.wait(timeout)
        with contextlib.suppress(ValueError):
            self._procs.remove(proc)
        return proc.returncode if proc.returncode is not None else -1

    @staticmethod
    def _signal(proc: subprocess.Popen[Any], signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            try:
                if os.getpgid(proc.pid) == proc.pid:
                    os.killpg(proc.pid, signum)
                    return
            except ProcessLookupError:
                return
            proc.send_signal(signum)

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a short command inside the namespace and return its result (not checked)."""
        self._check_open()
        return subprocess.run(in_netns(self.namespace, argv), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM
               ) -> socket.socket:
        """A socket of this process that lives inside the namespace (bind it to
        `ns_address` or 0.0.0.0 to serve the root namespace). The caller closes it."""
        from chaos.l3._nsenter import socket_in_netns

        self._check_open()
        return socket_in_netns(self.namespace, family, type)


def open_link() -> Link:
    """Build a new link; use it as a context manager: ``with open_link() as link: ...``."""
    return Link.create()
