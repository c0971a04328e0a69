"""The unsynced part of one file's data: pages written since its last fsync, and its size.

Why pages and a floor instead of a copy of the file: PostgreSQL's files are large and are
rewritten a page at a time; only what changed since the last fsync lives in memory. The
``floor`` is the lowest size the file was truncated to since then: backing bytes past it
read as zeros (a truncate followed by an extend must not resurrect old data).
"""

from __future__ import annotations

import os

PAGE = 4096


class PendingFile:
    """Writes to one file not yet fsynced. ``durable_size``: the backing file's size."""

    def __init__(self, durable_size: int) -> None:
        self.size = durable_size
        self.floor = durable_size
        self.pages: dict[int, bytearray] = {}

    def _base_page(self, fd: int, index: int) -> bytearray:
        start = index * PAGE
        want = max(0, min(PAGE, self.floor - start))
        page = bytearray(os.pread(fd, want, start) if want else b"")
        page.extend(bytes(PAGE - len(page)))
        return page

    def write(self, fd: int, data: bytes, offset: int) -> int:
        end = offset + len(data)
        pos = offset
        while pos < end:
            index, within = divmod(pos, PAGE)
            page = self.pages.get(index)
            if page is None:
                page = self.pages[index] = self._base_page(fd, index)
            take = min(PAGE - within, end - pos)
            page[within:within + take] = data[pos - offset:pos - offset + take]
            pos += take
        self.size = max(self.size, end)
        return len(data)

    def read(self, fd: int, size: int, offset: int) -> bytes:
        end = min(offset + size, self.size)
        out = bytearray()
        pos = offset
        while pos < end:
            index, within = divmod(pos, PAGE)
            take = min(PAGE - within, end - pos)
            page = self.pages.get(index)
            if page is not None:
                out += page[within:within + take]
            else:
                want = max(0, min(take, self.floor - pos))
                chunk = os.pread(fd, want, pos) if want else b""
                out += chunk + bytes(take - len(chunk))
            pos += take
        return bytes(out)

    def truncate(self, length: int) -> None:
        self.floor = min(self.floor, length)
        self.size = length
        last = -(-length // PAGE)  # pages at or past this index are wholly beyond the end
        for index in [i for i in self.pages if i >= last]:
            del self.pages[index]
        within = length % PAGE
        page = self.pages.get(length // PAGE)
        if page is not None and within:
            page[within:] = bytes(PAGE - within)

    def flush_to(self, fd: int) -> int:
        """Make it durable through ``fd`` (writable, on the backing file); returns bytes."""
        if self.floor < os.fstat(fd).st_size:
            os.ftruncate(fd, self.floor)
        written = 0
        for index in sorted(self.pages):
            start = index * PAGE
            if start >= self.size:
                continue
            chunk = self.pages[index][:min(PAGE, self.size - start)]
            os.pwrite(fd, chunk, start)
            written += len(chunk)
        os.ftruncate(fd, self.size)
        os.fsync(fd)
        return written
