"""Exceptions of the L3 layer."""

from __future__ import annotations


class L3Error(RuntimeError):
    """A kernel operation (ip, nft, tc, setns) failed; the message names the command."""


class L3Unavailable(L3Error):
    """This host cannot do L3 faults; the message says what is missing and how to get it."""
