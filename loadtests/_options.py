"""The Locust command-line options of the Sentinel load tests, each with its env var.

Tokens and addresses use the same environment variable names as the embedded stack and
docker-compose.chaos.yml (SENTINEL_ENROLLMENT_KEY, SENTINEL_VIEWER_TOKEN,
SENTINEL_OPERATOR_TOKEN, TOXIPROXY_URL), so a shell that ran the stack can run Locust.
Locust forwards custom options from the master to its workers. The TLS options
(``--ca-file``, ``--client-cert``, ``--client-key``, ``--insecure``) mean what they mean
for the fleet (``simulator.tls``) and apply to every client of the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.tls import TlsOptions

__all__ = ["RunOptions", "add_arguments"]


def add_arguments(parser: Any) -> None:
    """Register the options on Locust's (configargparse) parser."""
    group = parser  # Locust's own add_argument: it takes include_in_web_ui / is_secret
    group.add_argument("--enrollment-key", env_var="SENTINEL_ENROLLMENT_KEY", default="",
                       is_secret=True, help="Enrollment key edge users register with")
    group.add_argument("--viewer-token", env_var="SENTINEL_VIEWER_TOKEN", default="",
                       is_secret=True,
                       help="Viewer token for the dashboards' WebSocket and the gate's reads")
    group.add_argument("--operator-token", env_var="SENTINEL_OPERATOR_TOKEN", default="",
                       is_secret=True,
                       help="Operator token; the gate reads with it when no viewer token")
    group.add_argument("--api-url", env_var="SENTINEL_API_URL", default="",
                       help="Backend base URL the gate reads from, bypassing the fault "
                            "proxies (default: --host)")
    group.add_argument("--database-url", env_var="DATABASE_URL", default="", is_secret=True,
                       help="Gate: read the backend's database directly (the real commit "
                            "time of each row, the stream of the run's window, the audit "
                            "rows of the run's nodes); without it the gate judges from the "
                            "API and those SLOs are not measurable")
    group.add_argument("--stream-url", env_var="SENTINEL_STREAM_URL", default="",
                       help="Base URL of the WebSocket (e.g. the stream proxy, "
                            "ws://127.0.0.1:8667; default: --host with ws://)")
    group.add_argument("--toxiproxy-url", env_var="TOXIPROXY_URL", default="",
                       help="Toxiproxy API the load shape plays the fault timeline through")
    group.add_argument("--scenario", env_var="SENTINEL_SCENARIO", default="",
                       help="Scenario (built-in name or YAML) whose 'steps' are played as "
                            "the fault timeline and whose 'slos' the gate judges")
    group.add_argument("--dashboards", type=int, env_var="SENTINEL_DASHBOARDS", default=2,
                       help="Dashboard (WebSocket) users, on top of -u edge-node users")
    group.add_argument("--edge-rate", type=float, env_var="SENTINEL_EDGE_RATE", default=5.0,
                       help="Detections per second each edge node produces")
    group.add_argument("--warmup", type=float, env_var="SENTINEL_WARMUP_S", default=2.0,
                       help="Seconds the dashboards connect before the edge nodes ramp")
    group.add_argument("--max-delivery-p99-ms", type=float,
                       env_var="SENTINEL_MAX_DELIVERY_P99_MS", default=None,
                       help="Gate: overrides the scenario's delivery_p99_ms SLO (ms; "
                            "1000 without a scenario)")
    group.add_argument("--drain-timeout", type=float, env_var="SENTINEL_DRAIN_TIMEOUT_S",
                       default=None,
                       help="Gate: overrides the scenario's drain_timeout_s SLO: seconds "
                            "the outboxes and dashboards get to catch up at stop (60 "
                            "without a scenario)")
    group.add_argument("--gate-report", env_var="SENTINEL_GATE_REPORT", default="",
                       help="Write the gate's result as JSON to this path")
    group.add_argument("--no-gate", action="store_true", env_var="SENTINEL_NO_GATE",
                       default=False, help="Do not judge the run at stop")
    group.add_argument("--node-prefix", env_var="SENTINEL_NODE_PREFIX", default="locust",
                       help="Prefix of the node ids the edge users register")
    group.add_argument("--ca-file", env_var="SENTINEL_CA_FILE", default="",
                       help="TLS: PEM CA bundle to trust instead of the system store "
                            "(https:// and wss:// targets with a private CA)")
    group.add_argument("--client-cert", env_var="SENTINEL_CLIENT_CERT", default="",
                       help="TLS: PEM client certificate for mutual TLS")
    group.add_argument("--client-key", env_var="SENTINEL_CLIENT_KEY", default="",
                       help="TLS: PEM key of --client-cert, if not in the same file")
    group.add_argument("--insecure", action="store_true", env_var="SENTINEL_INSECURE",
                       default=False,
                       help="TLS: do NOT verify the server's certificate (rehearsals only)")


def _optional_float(value: Any) -> float | None:
    return None if value is None or value == "" else float(value)


@dataclass(frozen=True)
class RunOptions:
    """The parsed options, typed, with the defaults derived from --host filled in."""

    host: str
    enrollment_key: str
    viewer_token: str
    operator_token: str
    api_url: str
    database_url: str  # "": judge from the API
    stream_url: str
    toxiproxy_url: str
    scenario: str
    dashboards: int
    edge_rate: float
    warmup: float
    max_delivery_p99_ms: float | None  # None: the scenario's SLO
    drain_timeout: float | None  # None: the scenario's SLO
    gate_report: str
    gate: bool
    node_prefix: str
    num_users: int
    spawn_rate: float
    run_time: float | None
    tls: TlsOptions

    @property
    def read_token(self) -> str:
        return self.viewer_token or self.operator_token

    @classmethod
    def from_environment(cls, environment: Any) -> RunOptions:
        opts = environment.parsed_options
        host = (environment.host or getattr(opts, "host", "") or "").rstrip("/")
        stream = opts.stream_url or host.replace("https://", "wss://").replace("http://", "ws://")
        return cls(
            host=host,
            enrollment_key=opts.enrollment_key,
            viewer_token=opts.viewer_token,
            operator_token=opts.operator_token,
            api_url=(opts.api_url or host).rstrip("/"),
            database_url=getattr(opts, "database_url", "") or "",
            stream_url=stream.rstrip("/"),
            toxiproxy_url=opts.toxiproxy_url.rstrip("/"),
            scenario=opts.scenario,
            dashboards=int(opts.dashboards),
            edge_rate=float(opts.edge_rate),
            warmup=float(opts.warmup),
            max_delivery_p99_ms=_optional_float(opts.max_delivery_p99_ms),
            drain_timeout=_optional_float(opts.drain_timeout),
            gate_report=opts.gate_report,
            gate=not opts.no_gate,
            node_prefix=opts.node_prefix,
            num_users=int(opts.num_users or 1),
            spawn_rate=float(opts.spawn_rate or 1),
            run_time=float(opts.run_time) if opts.run_time else None,
            tls=_tls_options(opts),
        )

    @property
    def tls_targets(self) -> tuple[str, ...]:
        """Every address the run's clients connect to (the preflight checks the TLS ones)."""
        return (self.host, self.stream_url, self.api_url)


def _path(value: Any) -> Path | None:
    return Path(value) if value else None


def _tls_options(opts: Any) -> TlsOptions:
    return TlsOptions(ca_file=_path(opts.ca_file), client_cert=_path(opts.client_cert),
                      client_key=_path(opts.client_key), insecure=bool(opts.insecure))
