"""The control side: typed sync/async control, finding a Toxiproxy, the CLI server."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import time

import httpx
import pytest
from tpx_helpers import Upstreams, connect, echo

from chaos.toxiproxy import (
    INGEST,
    STREAM,
    AsyncToxiproxyControl,
    EmbeddedToxiproxy,
    StepToxiproxy,
    ToxiproxyControl,
    ToxiproxyError,
    _control_ops,
    acquire_toxiproxy,
)
from simulator.ports import free_port


def test_stack_proxies_toxics_cut_restore_reset(
    control: ToxiproxyControl, upstreams: Upstreams
) -> None:
    stack = control.create_stack_proxies(upstreams.add(echo), upstreams.add(echo))
    assert (stack.ingest.name, stack.stream.name) == (INGEST, STREAM)
    toxic = control.add_toxic(INGEST, "latency", {"latency": 30}, stream="upstream")
    assert toxic.name == "latency_upstream" and toxic.attributes == {"latency": 30, "jitter": 0}
    assert control.update_toxic(INGEST, toxic.name, {"jitter": 5}).attributes["jitter"] == 5
    sock = connect(stack.ingest.listen)
    start = time.perf_counter()
    sock.sendall(b"a")
    assert sock.recv(1) == b"a" and time.perf_counter() - start >= 0.024  # 30 +/- 5 ms
    sock.close()
    assert control.cut(STREAM).enabled is False
    with pytest.raises(OSError):
        connect(stack.stream.listen, timeout=2)
    assert control.restore(STREAM).enabled is True
    connect(stack.stream.listen).close()
    control.clear_toxics(INGEST)
    assert control.toxics(INGEST) == []
    control.add_toxic(STREAM, "timeout", {"timeout": 0})
    control.cut(INGEST)
    control.reset()
    assert all(p.enabled and not p.toxics for p in control.proxies().values())
    # recreating the stack replaces the old proxies
    again = control.create_stack_proxies(upstreams.add(echo), upstreams.add(echo))
    assert (
        set(control.proxies()) == {INGEST, STREAM}
        and again.ingest.upstream != stack.ingest.upstream
    )
    with pytest.raises(ToxiproxyError) as info:
        control.add_toxic(INGEST, "nope")
    assert info.value.status == 400
    with pytest.raises(ToxiproxyError) as missing:
        control.get_proxy("nope")
    assert missing.value.status == 404


async def test_async_control(embedded: EmbeddedToxiproxy, upstreams: Upstreams) -> None:
    async with AsyncToxiproxyControl(embedded.url) as ctl:
        try:
            assert (await ctl.version()).startswith("2.")
            stack = await ctl.create_stack_proxies(upstreams.add(echo), upstreams.add(echo))
            await ctl.add_toxic(STREAM, "bandwidth", {"rate": 10})
            assert [t.type for t in await ctl.toxics(STREAM)] == ["bandwidth"]
            slow = await ctl.add_toxic(INGEST, "latency", {"latency": 5}, name="slow")
            updated = await ctl.update_toxic(INGEST, slow.name, {"latency": 9}, toxicity=0.5)
            assert (updated.attributes["latency"], updated.toxicity) == (9, 0.5)
            await ctl.clear_toxics(INGEST)
            assert await ctl.toxics(INGEST) == [] and len(await ctl.toxics(STREAM)) == 1
            assert (await ctl.cut(INGEST)).enabled is False
            await ctl.reset()
            proxies = await ctl.proxies()
            assert proxies[INGEST].enabled and proxies[STREAM].toxics == []
            assert stack.ingest.listen_host_port[1] > 0
        finally:
            for name in await ctl.proxies():
                await ctl.delete_proxy(name)


def test_acquire_prefers_toxiproxy_url(
    embedded: EmbeddedToxiproxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", embedded.url)
    with acquire_toxiproxy() as handle:
        assert handle.kind == "url" and handle.url == embedded.url
        with handle.control() as ctl:
            assert ctl.version().startswith("2.")


def test_acquire_starts_binary_on_path(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``toxiproxy-server`` on PATH is started for the run and stopped by PID after."""
    fake = os.path.join(str(tmp_path), "toxiproxy-server")
    with open(fake, "w") as f:  # stands in for the Go binary: same flags, same API
        f.write(
            f"#!/bin/sh\nshift; host=$1; shift; shift; port=$1\n"
            f'exec "{sys.executable}" -m chaos.toxiproxy --host "$host" --port "$port"\n'
        )
    os.chmod(fake, 0o755)
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with acquire_toxiproxy() as handle:
        assert handle.kind == "binary" and handle.pid is not None
        url = handle.url
        assert httpx.get(f"{url}/version").status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/version", timeout=1)


def test_acquire_falls_back_to_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOXIPROXY_URL", raising=False)
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    with acquire_toxiproxy() as handle:
        assert handle.kind == "embedded"
        assert httpx.get(f"{handle.url}/version").status_code == 200
    with acquire_toxiproxy(prefer_subprocess=True) as handle:
        assert handle.kind == "embedded-subprocess" and handle.pid is not None
        assert httpx.get(f"{handle.url}/version").status_code == 200


def test_cli_runs_the_server_standalone(tmp_path: os.PathLike[str]) -> None:
    import json

    port = free_port()
    config = os.path.join(str(tmp_path), "proxies.json")
    with open(config, "w") as f:
        json.dump([{"name": "db", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:5432"}], f)
    cli = [sys.executable, "-c", "from chaos.cli import main; raise SystemExit(main())"]
    proc = subprocess.Popen(
        [*cli, "toxiproxy", "--port", str(port), "--config", config],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line
        assert httpx.get(f"http://127.0.0.1:{port}/version").json()["version"].startswith("2.")
        assert list(httpx.get(f"http://127.0.0.1:{port}/proxies").json()) == ["db"]
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


async def test_step_adapter_matches_scenario_protocol(
    embedded: EmbeddedToxiproxy, upstreams: Upstreams
) -> None:
    from chaos.scenario.context import ToxicSpec

    async with AsyncToxiproxyControl(embedded.url) as ctl:
        steps = StepToxiproxy(ctl)
        try:
            await ctl.create_proxy("p", upstreams.add(echo))
            await steps.add_toxic(
                "p", ToxicSpec("slow", "latency", "upstream", 1.0, {"latency": 5})
            )
            (toxic,) = await ctl.toxics("p")
            assert (toxic.name, toxic.stream, toxic.attributes["latency"]) == (
                "slow",
                "upstream",
                5,
            )
            await steps.remove_toxic("p", "slow")
            await steps.disable("p")
            assert not (await ctl.get_proxy("p")).enabled
            await steps.enable("p")
            assert (await ctl.get_proxy("p")).enabled
        finally:
            await ctl.delete_proxy("p")


def test_cli_discovers_subcommand_modules() -> None:
    from chaos.cli import build_parser

    help_text = build_parser().format_help()
    assert "toxiproxy" in help_text
    args = build_parser().parse_args(["toxiproxy", "--port", "0"])
    assert (args.host, args.port) == ("127.0.0.1", 0) and callable(args.func)


async def test_sync_and_async_control_offer_every_operation_alike() -> None:
    """Both controls expose each operation of ``_control_ops`` under its name, nothing rewritten."""
    operations = {
        name: function
        for name, function in vars(_control_ops).items()
        if inspect.isgeneratorfunction(function)
    }
    assert {"create_stack_proxies", "clear_toxics", "update_toxic"} <= set(operations)
    unused = "http://127.0.0.1:9"  # nothing is sent: only the methods are looked at
    with ToxiproxyControl(unused) as blocking:
        async with AsyncToxiproxyControl(unused) as awaitable:
            for name, operation in operations.items():
                sync_method, async_method = getattr(blocking, name), getattr(awaitable, name)
                assert sync_method.__wrapped__ is operation, name
                assert async_method.__wrapped__ is operation, name
                assert inspect.signature(sync_method) == inspect.signature(operation), name
                assert inspect.iscoroutinefunction(async_method), name
                assert not inspect.iscoroutinefunction(sync_method), name


def test_an_operation_that_never_ends_is_stopped(control: ToxiproxyControl) -> None:
    def endless() -> _control_ops.Operation[None]:
        while True:  # the control's call limit is what ends this
            yield _control_ops.ApiCall("GET", "/version")

    with pytest.raises(RuntimeError, match="more than 1000 API calls"):
        control._run(endless())
