"""sentinel-chaos: fault injection (L4 Toxiproxy, L3 netns), scenarios, verdict, reports, CLI.

Kept almost free of imports so that ``import chaos.<part>`` loads only that part; the one
re-export is the harness's secret redaction (standard library only), which ``loadtests``
installs on Locust's loggers.
"""

from chaos._secrets import install_log_redaction, redact

__all__ = ["install_log_redaction", "redact"]
