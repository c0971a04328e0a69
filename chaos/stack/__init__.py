"""The stack launcher: PostgreSQL, the backend, Toxiproxy and the L3 links of a run, and
the crash-class faults on them (``StackDatabase``, ``StackBackend`` for the step context)."""

from chaos.stack._faults import StackBackend, StackDatabase, unavailable_faults
from chaos.stack._stack import DATABASE_NAME, LINK_NAMES, PROXY_NAMES, Stack, StackOptions

__all__ = ["DATABASE_NAME", "LINK_NAMES", "PROXY_NAMES", "Stack", "StackBackend",
           "StackDatabase", "StackOptions", "unavailable_faults"]
