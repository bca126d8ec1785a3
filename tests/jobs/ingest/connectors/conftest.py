"""Fixtures for the connector tests: a fault-injecting paged JSON API and real PostgreSQL servers (one with TLS)."""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

TOKEN = "test-token-7f3a9c"
EVENTS_PATH = "/api/v1/court-events"


def make_events(n: int, start: date = date(2024, 1, 1)) -> list[dict[str, Any]]:
    """``n`` court events, one published per day from ``start``."""
    return [
        {
            "event_id": f"E{i:04d}",
            "case_id": f"C{i:04d}",
            "published_date": (start + timedelta(days=i)).isoformat(),
            "role": "defendant",
            "amount": 1000.0 + i,
        }
        for i in range(n)
    ]


@dataclass
class Fault:
    """One injected answer for one request.

    kind: ``status`` (code/headers/body), ``hang`` (sleep ``seconds`` before answering
    normally), ``drop`` (close the connection without a response), ``body`` (200 with a
    raw ``body``).
    """

    kind: str
    code: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    seconds: float = 0.0


class CourtApiStub:
    """A paged court-events API on localhost whose answers can be scripted per page."""

    def __init__(self, events: list[dict[str, Any]], token: str = TOKEN) -> None:
        self.events = events
        self.token = token
        self.faults: dict[int, deque[Fault]] = defaultdict(deque)
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                stub._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def inject(self, page: int, *faults: Fault) -> None:
        self.faults[page].extend(faults)

    def count(self, page: int) -> int:
        return sum(1 for r in self.requests if r["page"] == page)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        page = int(query.get("page", "1"))
        with self._lock:
            self.requests.append(
                {"path": parts.path, "page": page, "query": query, "auth": handler.headers.get("Authorization")}
            )
            fault = self.faults[page].popleft() if self.faults[page] else None
        if fault is not None and fault.kind == "hang":
            self.release.wait(fault.seconds)
            fault = None
        if fault is not None:
            self._fault(handler, fault)
        elif parts.path != EVENTS_PATH:
            self._send(handler, 404, json.dumps({"error": f"no route {parts.path}"}))
        elif handler.headers.get("Authorization") != f"Bearer {self.token}":
            self._send(handler, 401, json.dumps({"error": "invalid token"}))
        else:
            self._send(handler, 200, json.dumps(self._page(query, page)))

    def _page(self, query: dict[str, str], page: int) -> dict[str, Any]:
        size = int(query.get("page_size", "100"))
        lo, hi = query.get("published_from", ""), query.get("published_to", "9999")
        rows = [e for e in self.events if lo <= e["published_date"] <= hi]
        chunk = rows[(page - 1) * size : page * size]
        has_next = page * size < len(rows)
        return {
            "data": chunk,
            "page": page,
            "page_size": size,
            "total": len(rows),
            "next_page": page + 1 if has_next else None,
        }

    @staticmethod
    def _fault(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
        if fault.kind == "drop":
            handler.close_connection = True
            handler.connection.close()
            return
        ctype = "text/html" if fault.body.lstrip().startswith("<") else "application/json"
        CourtApiStub._send(handler, fault.code, fault.body, ctype, fault.headers)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        code: int,
        body: str,
        ctype: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode()
        handler.send_response(code)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    def __enter__(self) -> CourtApiStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()  # free any hanging handler before shutting down
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def court_api():
    """A fresh stub API with 23 events (so pages of 5 give 5 pages, the last partial)."""
    with CourtApiStub(make_events(23)) as stub:
        yield stub


@pytest.fixture(scope="module")
def postgres():
    """A real PostgreSQL server for the module (marked tests only)."""
    from riskpipe.testing.postgres import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def tls_certificates(tmp_path_factory):
    """A self-signed CA and a server certificate for 127.0.0.1 it signs."""
    from riskpipe.testing.tls import make_certificates

    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def postgres_tls(tls_certificates):
    """A real PostgreSQL server with TLS on, presenting ``tls_certificates``' server certificate."""
    from riskpipe.testing.postgres import PostgresServer

    with PostgresServer(ssl_cert=tls_certificates.server_cert, ssl_key=tls_certificates.server_key) as server:
        yield server
