"""A real webhook receiver on loopback for the tests: an HTTP server on a thread of the test
process that keeps every request it got, and answers as told: 204, a 500 for the first N
attempts, or holding each request until released (a receiver that hangs)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from standardwebhooks import Webhook

from tests.deadlines import DEADLINE, wait_until


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = orjson.loads(self.body)
        return event

    def verified(self, secret: str) -> dict[str, Any]:
        """The event, once its Standard Webhooks signature checks out with the library."""
        event: dict[str, Any] = Webhook(secret).verify(self.body, self.headers)
        return event


class Receiver:
    def __init__(self, *, fail_first: int = 0, hang: bool = False) -> None:
        self.fail_first = fail_first
        self.released = threading.Event()
        if not hang:
            self.released.set()
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received({k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    attempt = len(receiver.requests)
                receiver.released.wait(DEADLINE)
                status = 500 if attempt <= receiver.fail_first else 204
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.event for r in self.requests]

    def wait_for(self, count: int) -> None:
        wait_until(lambda: len(self.requests) >= count, f"{count} webhook requests")

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
