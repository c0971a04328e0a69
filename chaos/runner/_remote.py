"""What a run needs to see a backend honestly over a real link: TLS it can trust (checked
once, before anything starts) and the backend's clock against ours.

A field rehearsal aims the fleet at a deployment: its certificate may be expired, for
another host or from a private CA, and one connection before the run names that in one
line (``simulator.tls.preflight``). A run that does not verify certificates
(``--insecure``) is marked so in the report, because it proves nothing about the
deployment's TLS. And the backend's clock is not ours: the fleet's clock samples (in its
ledger) give the offset every server time is corrected by (``chaos.runner._assemble``).
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from simulator.clock_offset import OffsetEstimate, estimate_offset
from simulator.ledger import Ledger
from simulator.tls import TlsOptions, TlsPreflightError, client_context, is_tls_url, preflight

__all__ = [
    "INSECURE_NOTE",
    "PREFLIGHT_TIMEOUT_S",
    "check_target_tls",
    "clock_line",
    "ledger_clock_offset",
    "run_context",
    "tls_description",
]

INSECURE_NOTE = "INSECURE: certificates not verified (--insecure)"
PREFLIGHT_TIMEOUT_S = 5.0


async def check_target_tls(url: str, opts: TlsOptions) -> str | None:
    """``None`` when ``url`` can be used with ``opts`` (plain ``http://`` always can); else
    the one line naming the problem (expired, wrong host, unknown CA, bad options)."""
    try:
        await asyncio.to_thread(preflight, url, opts, PREFLIGHT_TIMEOUT_S)
    except TlsPreflightError as exc:
        return f"TLS: {exc}"
    return None


def run_context(opts: TlsOptions, *urls: str) -> ssl.SSLContext | None:
    """The harness's own TLS context (operator and evidence clients) when any of ``urls``
    is TLS; quiet: the run says ``--insecure`` itself, once."""
    if not any(is_tls_url(u) for u in urls):
        return None
    return client_context(opts, quiet=True)


def tls_description(opts: TlsOptions, url: str) -> str | None:
    """``environment["tls"]`` of a run against ``url`` (``None``: plain http)."""
    if not is_tls_url(url):
        return None
    if opts.insecure:
        return INSECURE_NOTE
    trust = (f"CA file {opts.ca_file}" if opts.ca_file is not None
             else "the system trust store (or SSL_CERT_FILE)")
    text = f"verified against {trust}"
    if opts.client_cert is not None:
        text += f"; client certificate {opts.client_cert}"
    return text


def ledger_clock_offset(state_dir: Path) -> OffsetEstimate | None:
    """The backend's clock minus ours from the fleet's clock samples (``None``: none)."""
    with Ledger(state_dir) as ledger:
        samples = ledger.clock_samples()
    return estimate_offset(samples) if samples else None


def clock_line(estimate: OffsetEstimate | None) -> str:
    """One line for the run's output and ``environment["clock offset"]``."""
    if estimate is None:
        return "not estimated (no heartbeat answer or hello carried server_time)"
    return (f"backend {estimate.offset_s * 1000:+.1f} ms ± {estimate.uncertainty_s * 1000:.1f}"
            f" ms from ours ({estimate.samples} lowest-round-trip samples); server times "
            "corrected by it")
