"""Settings of the backend, read from the environment (names are the documented ones)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .faults import PlantedFaults

__all__ = ["ConfigError", "Settings"]


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


def _num(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be >= {minimum}")
    return value


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(
            f"{name} is not set (use `sentinel-backend serve`, which generates it, or export it)"
        )
    return value


def _faults() -> PlantedFaults:
    try:
        return PlantedFaults.from_env()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class Settings:
    """Everything tunable, with the defaults documented in docs/api.md."""

    database_url: str
    enrollment_key: str
    operator_token: str
    viewer_token: str
    offline_after_s: float = 30.0
    command_ack_timeout_s: float = 10.0
    command_max_attempts: int = 8
    ws_heartbeat_s: float = 5.0
    ws_max_buffer: int = 10_000
    ws_coalesce_ms: float = 2.0
    sequencer_interval_ms: float = 5.0
    ingest_queue_max: int = 10_000
    group_commit_max: int = 1_000
    batch_concurrency: int = 4
    max_body_bytes: int = 1 << 20
    db_pool_size: int = 10
    access_log: bool = True
    # Failed authentications (401/403) per client address: a burst of new wrong credentials,
    # then so many per second; past that 429 (docs/api.md, "Failed authentication").
    auth_fail_burst: int = 100
    auth_fail_per_s: float = 5.0
    log_level: str = "INFO"
    faults: PlantedFaults = field(default_factory=PlantedFaults)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=_required("DATABASE_URL"),
            enrollment_key=_required("SENTINEL_ENROLLMENT_KEY"),
            operator_token=_required("SENTINEL_OPERATOR_TOKEN"),
            viewer_token=_required("SENTINEL_VIEWER_TOKEN"),
            offline_after_s=_num("SENTINEL_OFFLINE_AFTER_S", 30.0, 0.1),
            command_ack_timeout_s=_num("SENTINEL_COMMAND_ACK_TIMEOUT_S", 10.0, 0.01),
            command_max_attempts=int(_num("SENTINEL_COMMAND_MAX_ATTEMPTS", 8, 1)),
            ws_heartbeat_s=_num("SENTINEL_WS_HEARTBEAT_S", 5.0, 0.05),
            ws_max_buffer=int(_num("SENTINEL_WS_MAX_BUFFER", 10_000, 1)),
            ws_coalesce_ms=_num("SENTINEL_WS_COALESCE_MS", 2.0, 0),
            sequencer_interval_ms=_num("SENTINEL_SEQUENCER_INTERVAL_MS", 5.0, 0),
            ingest_queue_max=int(_num("SENTINEL_INGEST_QUEUE_MAX", 10_000, 1)),
            group_commit_max=int(_num("SENTINEL_GROUP_COMMIT_MAX", 1_000, 1)),
            batch_concurrency=int(_num("SENTINEL_BATCH_CONCURRENCY", 4, 1)),
            max_body_bytes=int(_num("SENTINEL_MAX_BODY_BYTES", 1 << 20, 1024)),
            db_pool_size=int(_num("SENTINEL_DB_POOL_SIZE", 10, 2)),
            auth_fail_burst=int(_num("SENTINEL_AUTH_FAIL_BURST", 100, 0)),
            auth_fail_per_s=_num("SENTINEL_AUTH_FAIL_PER_S", 5.0, 0.01),
            access_log=os.environ.get("SENTINEL_ACCESS_LOG", "1") not in ("0", "false", "no"),
            log_level=os.environ.get("SENTINEL_LOG_LEVEL", "INFO").upper(),
            faults=_faults(),
        )
