"""Where HTTP/1.1 requests begin and end in a client's byte stream, found incrementally.

``http_error`` decides per request whether to forward it or answer it itself, and must do
so without holding bytes back (a toxic may be removed between two chunks, and only the
chunk in hand is flushed then). So the scanner never buffers for its caller: it splits
each chunk, as it comes, into :class:`Segment` ranges tagged with the request they belong
to, and keeps a bounded copy of the current head only to read its framing
(``Content-Length``, chunked ``Transfer-Encoding``). Bytes that are not HTTP/1.x (TLS, an
upgraded connection, a malformed head) turn the rest of the stream opaque.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

MAX_HEAD = 64 * 1024  # a longer request head is treated as not HTTP
MAX_LINE = 4 * 1024  # a chunk-size line or trailer line

_START, _HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _OPAQUE = range(7)


@dataclass(frozen=True, slots=True)
class RequestHead:
    """The parts of a request head that decide its framing and the connection's fate."""

    method: str
    version: str
    headers: dict[str, str]  # lower-case names

    def _tokens(self, name: str) -> set[str]:
        return {t.strip().lower() for t in self.headers.get(name, "").split(",") if t.strip()}

    @property
    def keep_alive(self) -> bool:
        tokens = self._tokens("connection")
        if "close" in tokens:
            return False
        return self.version != "HTTP/1.0" or "keep-alive" in tokens

    @property
    def expects_continue(self) -> bool:
        return self.headers.get("expect", "").strip().lower() == "100-continue"

    @property
    def upgrades(self) -> bool:
        """Whether the server may switch the connection to another protocol after it."""
        return self.method == "CONNECT" or "upgrade" in self.headers

    @property
    def chunked(self) -> bool:
        codings = [t.strip().lower() for t in self.headers.get("transfer-encoding", "").split(",")]
        return codings[-1] == "chunked"


def parse_head(raw: bytes) -> RequestHead | None:
    """The head (request line and headers, ending in an empty line), or None if not HTTP/1.x."""
    lines = raw.decode("latin-1").split("\n")
    parts = lines[0].rstrip("\r").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or not parts[0].isupper():
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        line = line.rstrip("\r")
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        key = name.lower()
        if key in headers and key == "transfer-encoding":
            headers[key] += ", " + value.strip()
        else:
            headers[key] = value.strip()
    head = RequestHead(parts[0], parts[2], headers)
    length = headers.get("content-length")
    if length is not None and not head.chunked and not length.isdigit():
        return None
    return head


@dataclass(frozen=True, slots=True)
class Segment:
    """``data[start:end]`` of the chunk being scanned, and what it is part of."""

    start: int
    end: int
    #: Sequence number of the request these bytes belong to (from 0); -1 for bytes
    #: between requests (CRLFs) and for opaque (non-HTTP) bytes.
    request: int
    #: Set on the segment that completes the request's head.
    head: RequestHead | None = None
    #: The request's head or body framing turned out not to be HTTP/1.x.
    malformed: bool = False


class RequestScanner:
    """Splits one direction of a connection into requests; :meth:`scan` each chunk in order."""

    def __init__(self) -> None:
        self._state = _START
        self._request = -1
        self._head = bytearray()
        self._line = bytearray()
        self._remaining = 0
        self._opaque_after_request = False

    def opaque_after_request(self) -> None:
        """Stop parsing once the current request ends (it was forwarded and upgrades)."""
        self._opaque_after_request = True

    def _end_request(self) -> None:
        self._state = _OPAQUE if self._opaque_after_request else _START

    def _malformed(self, start: int, end: int) -> Segment:
        self._state = _OPAQUE
        return Segment(start, end, self._request, malformed=True)

    def scan(self, data: bytes) -> Iterator[Segment]:
        """Segments covering ``data`` in order, with no gaps (lazily: state follows use)."""
        pos, size = 0, len(data)
        while pos < size:
            state = self._state
            if state == _OPAQUE:
                yield Segment(pos, size, -1)
                return
            if state == _START:
                end = pos
                while end < size and data[end] in b"\r\n":
                    end += 1
                if end > pos:
                    yield Segment(pos, end, -1)
                    pos = end
                elif 65 <= data[pos] <= 90:  # an upper-case method begins a request
                    self._request += 1
                    self._head.clear()
                    self._state = _HEAD
                else:
                    self._state = _OPAQUE
            elif state == _HEAD:
                before = len(self._head)
                self._head += data[pos : pos + MAX_HEAD + 4]
                found = self._head.find(b"\r\n\r\n", max(0, before - 3))
                if found < 0:
                    end = pos + len(self._head) - before
                    if len(self._head) > MAX_HEAD:
                        yield self._malformed(pos, end)
                    else:
                        yield Segment(pos, end, self._request)
                    pos = end
                    continue
                end = pos + found + 4 - before
                del self._head[found + 4 :]
                head = parse_head(bytes(self._head))
                if head is None:
                    yield self._malformed(pos, end)
                    pos = end
                    continue
                if head.chunked:
                    self._state = _CHUNK_SIZE
                else:
                    self._remaining = int(head.headers.get("content-length", "0") or "0")
                    self._state = _BODY
                yield Segment(pos, end, self._request, head=head)
                pos = end
                if self._state == _BODY and self._remaining == 0:
                    self._end_request()
            elif state in (_BODY, _CHUNK_DATA):
                end = pos + min(self._remaining, size - pos)
                self._remaining -= end - pos
                yield Segment(pos, end, self._request)
                pos = end
                if self._remaining == 0:
                    if state == _BODY:
                        self._end_request()
                    else:
                        self._state = _CHUNK_SIZE
            else:  # _CHUNK_SIZE or _TRAILER: one line at a time
                newline = data.find(b"\n", pos)
                end = size if newline < 0 else newline + 1
                self._line += data[pos:end]
                if len(self._line) > MAX_LINE:
                    yield self._malformed(pos, end)
                    pos = end
                    continue
                if newline < 0:
                    yield Segment(pos, end, self._request)
                    pos = end
                    continue
                line = bytes(self._line).strip()
                self._line.clear()
                finished = False
                if state == _CHUNK_SIZE:
                    try:
                        chunk = int(line.split(b";")[0].strip(), 16)
                    except ValueError:
                        yield self._malformed(pos, end)
                        pos = end
                        continue
                    if chunk > 0:
                        self._remaining, self._state = chunk + 2, _CHUNK_DATA  # data, CRLF
                    else:
                        self._state = _TRAILER
                else:
                    finished = not line
                yield Segment(pos, end, self._request)
                pos = end
                if finished:
                    self._end_request()
