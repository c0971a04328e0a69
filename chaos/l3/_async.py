"""asyncio use: build and remove the link off the event loop.

Fault changes are single short `nft`/`tc` calls (milliseconds); call them
directly, or through `asyncio.to_thread` if the loop must never block.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from chaos.l3._link import Link


@contextlib.asynccontextmanager
async def open_link_async() -> AsyncIterator[Link]:
    """``async with open_link_async() as link:`` — the same Link, created in a thread."""
    link = await asyncio.to_thread(Link.create)
    try:
        yield link
    finally:
        await asyncio.to_thread(link.close)
