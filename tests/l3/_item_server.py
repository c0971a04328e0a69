"""A tiny idempotent HTTP item store, run inside a link's namespace.

    PUT /items/<id>   body stored once: 201 the first time, 200 for a retry with
                      the same body, 409 for the same id with another body
    GET /stats        {"stored": n, "puts": n, "retries": n, "conflicts": n}

HTTP/1.1 keep-alive (a client may reuse a connection). Prints ``PORT <n>``
on stdout once listening. Connections time out after a few seconds, so
half-open connections left by a lossy link do not pile up.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONN_TIMEOUT_S = 5.0


class Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: dict[str, bytes] = {}
        self.puts = 0
        self.retries = 0
        self.conflicts = 0


STORE = Store()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = CONN_TIMEOUT_S

    def log_message(self, format: str, *args: object) -> None:
        return

    def _reply(self, code: int, body: bytes) -> None:
        head = (
            f"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.wfile.write(head + body)  # one write: one segment for a small reply

    def do_PUT(self) -> None:
        if not self.path.startswith("/items/"):
            self._reply(404, b"{}")
            return
        item_id = self.path[len("/items/"):]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with STORE.lock:
            STORE.puts += 1
            stored = STORE.items.get(item_id)
            if stored is None:
                STORE.items[item_id] = body
                code = 201
            elif stored == body:
                STORE.retries += 1
                code = 200
            else:
                STORE.conflicts += 1
                code = 409
        self._reply(code, b'{"ok": true}')

    def do_GET(self) -> None:
        with STORE.lock:
            stats = {
                "stored": len(STORE.items),
                "puts": STORE.puts,
                "retries": STORE.retries,
                "conflicts": STORE.conflicts,
            }
        self._reply(200, json.dumps(stats).encode())


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: object, client_address: object) -> None:
        return  # resets and timeouts are what a lossy link does; the client retries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = QuietServer((args.host, args.port), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
