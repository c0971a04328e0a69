"""``sentinel-backend``: serve the API (with an embedded PostgreSQL unless DATABASE_URL)."""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from .auth import new_token
from .config import ConfigError, Settings
from .migrate import migrate_dsn
from .pg import EmbeddedPostgres, EmbeddedPostgresError

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_served_app", "main"]

DEFAULT_DATA_DIR = Path("~/.local/share/sentinel-chaos/pgdata")
DATABASE_NAME = "sentinel"
TOKEN_VARS = {
    "SENTINEL_ENROLLMENT_KEY": "enr_",
    "SENTINEL_OPERATOR_TOKEN": "op_",
    "SENTINEL_VIEWER_TOKEN": "view_",
}


def _step(message: str) -> None:
    print(f"sentinel-backend: {message}", flush=True)


async def _ensure_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _database(args: argparse.Namespace) -> tuple[str, EmbeddedPostgres | None]:
    """DATABASE_URL when set; else start the embedded PostgreSQL and return its DSN."""
    url = os.environ.get("DATABASE_URL")
    if url:
        _step("using DATABASE_URL")
        return url, None
    data_dir = None if args.ephemeral else Path(args.data_dir or DEFAULT_DATA_DIR).expanduser()
    where = "a throwaway directory" if data_dir is None else str(data_dir)
    _step(f"DATABASE_URL not set: starting embedded PostgreSQL in {where}")
    pg = EmbeddedPostgres(data_dir, port=args.pg_port, die_with_parent=True)
    try:
        pg.start()
        _step(f"PostgreSQL listening on {pg.host}:{pg.port} (pid {pg.pid}, log {pg.log_path})")
        asyncio.run(_ensure_database(pg.dsn, DATABASE_NAME))
    except BaseException:
        pg.stop()
        raise
    return pg.dsn_for(DATABASE_NAME), pg


def create_served_app() -> FastAPI:
    """The app ``serve`` runs: :func:`create_app` on the settings of the environment (the
    failed-authentication limiter included, as in every app ``create_app`` builds)."""
    from .app import create_app

    return create_app(Settings.from_env())


def _check_tls(args: argparse.Namespace) -> bool:
    """Whether ``--ssl-*`` asks for TLS; checked before anything starts, so that a missing
    or mismatched certificate/key is a one-line configuration error, not a traceback from
    uvicorn after the database came up."""
    if args.ssl_certfile is None:
        if args.ssl_keyfile or args.ssl_ca_certs or args.ssl_require_client_cert:
            raise ConfigError("--ssl-keyfile/--ssl-ca-certs/--ssl-require-client-cert "
                              "need --ssl-certfile")
        return False
    if args.ssl_require_client_cert and not args.ssl_ca_certs:
        raise ConfigError("--ssl-require-client-cert needs --ssl-ca-certs (the clients' CA)")
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        probe.load_cert_chain(args.ssl_certfile, args.ssl_keyfile)
        if args.ssl_ca_certs:
            probe.load_verify_locations(args.ssl_ca_certs)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS certificate/key unusable: {exc}") from exc
    return True


def _cert_reqs(args: argparse.Namespace) -> int:
    """Client certificates: required (mTLS), verified when offered (a CA given), or ignored."""
    if args.ssl_require_client_cert:
        return ssl.CERT_REQUIRED
    return ssl.CERT_OPTIONAL if args.ssl_ca_certs else ssl.CERT_NONE


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    tls = _check_tls(args)
    url, pg = _database(args)
    try:
        os.environ["DATABASE_URL"] = url
        applied = asyncio.run(migrate_dsn(url))
        _step(f"migrations applied: {', '.join(applied) if applied else 'none pending'}")
        generated = []
        for var, prefix in TOKEN_VARS.items():
            if not os.environ.get(var):
                os.environ[var] = new_token(prefix)
                generated.append(var)
        for var in generated:
            _step(f"generated {var}={os.environ[var]}")
        if args.log_level:
            os.environ["SENTINEL_LOG_LEVEL"] = args.log_level
        if args.no_access_log:
            os.environ["SENTINEL_ACCESS_LOG"] = "0"
        Settings.from_env()  # a bad SENTINEL_* value fails here, naming the variable
        http, ws = ("https", "wss") if tls else ("http", "ws")
        _step(f"listening on {http}://{args.host}:{args.port} (workers: {args.workers}; "
              f"stream {ws}://{args.host}:{args.port}/ws; docs /docs)")
        uvicorn.run(
            "sentinel_backend.cli:create_served_app", factory=True, host=args.host, port=args.port,
            workers=args.workers, log_config=None, access_log=False, lifespan="on",
            timeout_graceful_shutdown=5, ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile, ssl_ca_certs=args.ssl_ca_certs,
            ssl_cert_reqs=_cert_reqs(args),
        )
        return 0
    finally:
        if pg is not None:
            _step("stopping embedded PostgreSQL")
            pg.stop()


def _migrate(args: argparse.Namespace) -> int:
    url, pg = _database(args)
    try:
        applied = asyncio.run(migrate_dsn(url))
        _step(f"migrations applied: {', '.join(applied) if applied else 'none pending'}")
        return 0
    finally:
        if pg is not None:
            pg.stop()


def _db_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--data-dir", help="data directory of the embedded PostgreSQL used when "
                       f"DATABASE_URL is unset (default {DEFAULT_DATA_DIR})")
    group.add_argument("--ephemeral", action="store_true",
                       help="embedded PostgreSQL in a throwaway directory, removed on exit")
    parser.add_argument("--pg-port", type=int, default=0,
                        help="port of the embedded PostgreSQL (default: a free one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sentinel-backend",
        description="The Sentinel resilient backend API. Uses DATABASE_URL when set, else an "
                    "embedded PostgreSQL. Secrets: SENTINEL_ENROLLMENT_KEY, "
                    "SENTINEL_OPERATOR_TOKEN, SENTINEL_VIEWER_TOKEN (generated when unset).")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API server",
                           description="Run the API (and the embedded PostgreSQL if needed); "
                                       "Ctrl-C stops both.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--log-level", default=None, help="log level (SENTINEL_LOG_LEVEL)")
    serve.add_argument("--no-access-log", action="store_true", help="no line per request")
    serve.add_argument("--ssl-certfile", default=None,
                       help="serve HTTPS/WSS with this PEM certificate (chain)")
    serve.add_argument("--ssl-keyfile", default=None,
                       help="PEM key of --ssl-certfile, if not in the same file")
    serve.add_argument("--ssl-ca-certs", default=None,
                       help="PEM CA bundle client certificates are verified against")
    serve.add_argument("--ssl-require-client-cert", action="store_true",
                       help="refuse clients without a certificate from --ssl-ca-certs (mTLS)")
    _db_args(serve)
    serve.set_defaults(func=_serve)
    migrate = sub.add_parser("migrate", help="apply pending SQL migrations and exit",
                             description="Apply pending migrations to DATABASE_URL (or the "
                                         "embedded PostgreSQL's data directory).")
    _db_args(migrate)
    migrate.set_defaults(func=_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (ConfigError, EmbeddedPostgresError) as exc:
        print(f"sentinel-backend: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"sentinel-backend: error: cannot use the database ({exc}); check DATABASE_URL "
              "or --data-dir", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
