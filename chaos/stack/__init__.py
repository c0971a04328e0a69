"""The stack launcher: PostgreSQL, the backend, Toxiproxy and the L3 links of a run."""

from chaos.stack._stack import DATABASE_NAME, LINK_NAMES, Stack, StackOptions

__all__ = ["DATABASE_NAME", "LINK_NAMES", "Stack", "StackOptions"]
