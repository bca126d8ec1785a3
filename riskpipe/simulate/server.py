"""Court-events REST API (stdlib ``ThreadingHTTPServer``) over ``court/events.jsonl``.

``GET /api/v1/court-events?published_from=YYYY-MM-DD&published_to=YYYY-MM-DD&page=1&page_size=500``
returns ``{"data": [...], "page": 1, "page_size": 500, "total": N, "next_page": 2 | null}``
sorted by (published_date, event_id). A bearer token is required (401 otherwise); bad
parameters give 400. Optional fault injection for client tests:
``{"429_every": n}`` (every n-th request answers 429 with ``Retry-After: 1``) and
``{"500_once_on_page": k}`` (the first request for page k answers 500).
"""

from __future__ import annotations

import bisect
import datetime as dt
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN_ENV = "RISKPIPE_COURT_API_TOKEN"
PATH = "/api/v1/court-events"
DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 5000
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765


def load_events(data_dir: str | Path) -> list[dict[str, Any]]:
    """Read ``court/events.jsonl`` (skipping unparsable lines) sorted by (published, id)."""
    events = []
    with (Path(data_dir) / "court" / "events.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                events.append(rec)
    events.sort(key=lambda r: (str(r.get("published_date")), str(r.get("event_id"))))
    return events


class _State:
    def __init__(self, events: list[dict], token: str, faults: dict[str, int] | None):
        self.events = events
        self.keys = [str(e.get("published_date")) for e in events]
        self.token = token
        self.faults = dict(faults or {})
        self.lock = threading.Lock()
        self.requests = 0
        self.failed_pages: set[int] = set()


def _date(params: dict, name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    dt.date.fromisoformat(values[0])  # raises ValueError on bad input
    return values[0]


def _int(params: dict, name: str, default: int, lo: int, hi: int) -> int:
    values = params.get(name)
    value = int(values[0]) if values else default
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be within [{lo}, {hi}]")
    return value


class _Handler(BaseHTTPRequestHandler):
    server_version = "riskpipe-court/1"

    @property
    def state(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """Silence per-request logging."""

    def _send(self, code: int, body: dict, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[len("Bearer ") :].encode(), self.state.token.encode())

    def _fault(self, page: int) -> tuple[int, dict, dict] | None:
        st = self.state
        with st.lock:
            st.requests += 1
            every = st.faults.get("429_every")
            if every and st.requests % every == 0:
                return 429, {"error": "too_many_requests"}, {"Retry-After": "1"}
            once = st.faults.get("500_once_on_page")
            if once == page and page not in st.failed_pages:
                st.failed_pages.add(page)
                return 500, {"error": "internal_error"}, {}
        return None

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        """Serve one page of court events."""
        url = urlparse(self.path)
        if url.path != PATH:
            self._send(404, {"error": "not_found"})
            return
        if not self._authorised():
            self._send(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
            return
        try:
            params = parse_qs(url.query, strict_parsing=False)
            lo, hi = _date(params, "published_from"), _date(params, "published_to")
            page = _int(params, "page", 1, 1, 10**9)
            size = _int(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        except ValueError as exc:
            self._send(400, {"error": "bad_request", "detail": str(exc)})
            return
        fault = self._fault(page)
        if fault:
            self._send(*fault)
            return
        keys = self.state.keys
        start = bisect.bisect_left(keys, lo) if lo else 0
        stop = bisect.bisect_right(keys, hi) if hi else len(keys)
        total = max(stop - start, 0)
        first = start + (page - 1) * size
        data = self.state.events[first : min(first + size, stop)] if first < stop else []
        more = first + size < stop
        self._send(
            200,
            {"data": data, "page": page, "page_size": size, "total": total, "next_page": page + 1 if more else None},
        )


def start_server(
    data_dir: str | Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    faults: dict[str, int] | None = None,
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the API on a daemon thread.

    Args:
        data_dir: Simulator output root (reads ``court/events.jsonl``).
        host: Bind address.
        port: Port (0 picks a free one; see ``server.server_address``).
        token: Required bearer token (must be non-empty).
        faults: Optional fault injection (see module docstring).

    Returns:
        The server (call ``shutdown()`` then ``server_close()``) and its thread.
    """
    if not token:
        raise ValueError(f"a bearer token is required (set {TOKEN_ENV})")
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.state = _State(load_events(data_dir), token, faults)  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="court-api", daemon=True)
    thread.start()
    return server, thread
