"""A real webhook receiver on 127.0.0.1 (http.server in a thread) that records what it gets."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def key(self) -> str:
        return self.headers["Idempotency-Key"]


@dataclass
class Receiver:
    """Answers each request with `respond(n)` (n counts from 1), default 200."""

    respond: Callable[[int], int] = lambda n: 200
    received: list[Received] = field(default_factory=list)
    #: Set on the first request; that request then waits for `release` (to kill a worker then).
    hold_first: bool = False
    first_arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def keys(self) -> list[str]:
        with self._lock:
            return [r.key for r in self.received]

    def __enter__(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with outer._lock:
                    outer.received.append(Received(self.path, dict(self.headers), body))
                    n = len(outer.received)
                if n == 1 and outer.hold_first:
                    outer.first_arrived.set()
                    outer.release.wait(60)
                status = outer.respond(n)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the worker died while we answered

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release.set()
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
