"""Invalid input as an HTTP answer: the routes' one bridge from :mod:`..validation`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..core import ApiError
from ..validation import Invalid

__all__ = ["refused_as"]


@contextmanager
def refused_as(status: int) -> Iterator[None]:
    """:class:`Invalid` raised inside becomes an :class:`ApiError` of `status` with its
    message (docs/api.md: 422 for a body, 400 for a query or path parameter)."""
    try:
        yield
    except Invalid as exc:
        raise ApiError(status, str(exc)) from None
