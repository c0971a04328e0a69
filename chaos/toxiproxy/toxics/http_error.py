"""http_error (extension): answer a ``toxicity`` fraction of HTTP/1.1 requests with an error.

On the upstream stream, each request a client sends through the proxy is either forwarded
untouched or -- with probability ``toxicity``, rolled per request, not per connection --
never reaches the upstream: the proxy answers it with ``status`` (default 503), a
``Retry-After: <retry_after>`` header when ``retry_after`` (seconds) is above 0, and
``body`` (default: the status's reason phrase). Request boundaries are found from
``Content-Length`` and chunked framing, so keep-alive connections stay in step; a request
that says ``Connection: close`` (or HTTP/1.0 without keep-alive) or ``Expect:
100-continue`` is answered and the connection closed. After a forwarded ``Upgrade`` or
``CONNECT`` request, and for bytes that are not HTTP/1.x at all, everything passes through.

Pipelining is not modelled: an answer made here can overtake an upstream answer to an
earlier request still in flight (clients that wait for each answer are unaffected).
"""

from __future__ import annotations

import http
from typing import ClassVar

from chaos.toxiproxy.toxics._http_requests import RequestHead, RequestScanner
from chaos.toxiproxy.toxics.base import Stub, Toxic, register


def reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_response(
    status: int, retry_after: int, body: str, *, head_only: bool, close: bool
) -> bytes:
    """The bytes of the injected answer (``head_only`` for a ``HEAD`` request)."""
    reason = reason_phrase(status)
    payload = (body or f"{reason}\n").encode()
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(payload)}",
    ]
    if retry_after > 0:
        lines.append(f"Retry-After: {retry_after}")
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + payload


@register
class HttpErrorToxic(Toxic):
    type_name = "http_error"
    defaults: ClassVar[dict[str, int]] = {"status": 503, "retry_after": 0}
    text_defaults: ClassVar[dict[str, str]] = {"body": ""}
    rolls_own_toxicity = True  # per request, in pipe
    only_stream = "upstream"  # it reads requests

    def validate(self) -> str | None:
        if not 200 <= self.attributes["status"] <= 599:
            return "status must be an HTTP status from 200 to 599"
        if self.attributes["retry_after"] < 0:
            return "retry_after must not be negative"
        return None

    def _answer(self, head: RequestHead | None) -> tuple[bytes, bool]:
        close = head is None or not head.keep_alive or head.expects_continue
        response = error_response(
            self.attributes["status"],
            self.attributes["retry_after"],
            self.text_attributes["body"],
            head_only=head is not None and head.method == "HEAD",
            close=close,
        )
        return response, close

    async def pipe(self, stub: Stub) -> None:
        answer = stub.reply
        scanner = RequestScanner()
        request, failing = -1, False
        while (chunk := await stub.get()) is not None:
            data, dropped, closing = chunk.data, 0, False
            for segment in scanner.scan(data):
                if segment.request != request and segment.request >= 0:
                    request = segment.request
                    failing = stub.rng.random() < self.toxicity
                if segment.request < 0 or not failing:
                    stub.emit(data[segment.start : segment.end])
                    if segment.head is not None and segment.head.upgrades:
                        scanner.opaque_after_request()
                    continue
                dropped += segment.end - segment.start
                if segment.head is not None or segment.malformed:
                    response, closing = self._answer(segment.head)
                    answer(response)
                    if closing:
                        break
            if dropped or closing:
                stub.drop()  # releases the bytes of this chunk not emitted
            if closing:
                stub.close()
                return
        stub.finish()
