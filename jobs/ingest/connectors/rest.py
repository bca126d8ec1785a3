"""Paged REST client for JSON feeds (the court events API).

Contract of a page: ``GET <base_url><path>?<params>&page=N&page_size=M`` with a bearer token,
answering ``{"data": [...], "page": N, "page_size": M, "total": T, "next_page": N+1 | null}``.
Pages are followed until ``next_page`` is null. Transient failures (429, 5xx, connection
errors, timeouts) are retried with exponential backoff plus jitter, honouring ``Retry-After``;
authentication failures and other client errors fail at once. So that a feed never silently
loses or re-reads a page, a 200 whose body is not the expected JSON fails with the URL and
page, ``next_page`` must be the page after the one just read (a skip or a step back fails
naming the expected and the offered page), every page must announce the same ``total`` and
the records received must add up to it, and a feed needing more than ``max_pages`` pages
fails naming the source and the cap (a runaway API, or an interval far larger than the
source is sized for).
"""

from __future__ import annotations

import email.utils
import logging
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import requests
import tenacity

from riskpipe.core.config import Settings
from riskpipe.core.credentials import get_connection

log = logging.getLogger(__name__)

COURT_EVENTS_PATH = "/api/v1/court-events"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
AUTH_STATUS = frozenset({401, 403})
# A connection dropped mid-body surfaces as ChunkedEncodingError, not ConnectionError.
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
# Cap for any single wait, whatever Retry-After or the backoff formula says.
MAX_WAIT_SECONDS = 300.0
BODY_EXCERPT_CHARS = 200


class RestError(RuntimeError):
    """Base class of the REST connector errors."""


class AuthenticationError(RestError):
    """401/403: the token is missing, wrong or lacks rights; never retried."""


class RestClientError(RestError):
    """A 4xx other than 401/403/429: the request itself is wrong."""

    def __init__(self, message: str, *, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class MalformedPageError(RestError):
    """A 200 response whose body is not the expected JSON page."""


class RetriesExhaustedError(RestError):
    """A transient failure persisted beyond ``max_retries``."""


class PageOrderError(MalformedPageError):
    """``next_page`` is not the page after the one just read: pages would be skipped or re-read."""


class PageCapError(RestError):
    """The feed offers more pages than the source's ``max_pages``."""


class TotalMismatchError(RestError):
    """The records received do not add up to the ``total`` the API announced."""


@dataclass(frozen=True)
class Page:
    """One page of records.

    Attributes:
        number: page number as requested.
        url: full request URL (no credentials: the token travels in a header).
        records: the ``data`` list.
        attempts: requests it took (1 = no retry).
    """

    number: int
    url: str
    records: list[dict[str, Any]]
    attempts: int = 1


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BODY_EXCERPT_CHARS else text[:BODY_EXCERPT_CHARS] + "..."


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _wait_seconds(attempt: int, backoff: float, retry_after: float | None) -> float:
    """Exponential backoff with jitter; a server's ``Retry-After`` is a floor."""
    base = backoff * (2**attempt)
    # Jitter in [base/2, base) spreads out clients that failed together.
    delay = base * (0.5 + random.random() / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, MAX_WAIT_SECONDS)


def _check_status(response: requests.Response, url: str) -> None:
    """Raise the non-retryable errors for ``response``."""
    status = response.status_code
    if status in AUTH_STATUS:
        raise AuthenticationError(f"HTTP {status} from {url}: check the API token / connection")
    if 400 <= status < 500 and status not in RETRYABLE_STATUS:
        body = _excerpt(response.text)
        raise RestClientError(f"HTTP {status} from {url}: {body}", status=status, body=body)


class _TransientFailure(Exception):
    """A failure worth another attempt: 429/5xx, a dropped connection or a timeout."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _get(
    session: requests.Session,
    url: str,
    params: Mapping[str, Any],
    *,
    headers: Mapping[str, str],
    timeout: float,
    max_retries: int,
    backoff: float,
) -> tuple[requests.Response, int]:
    """GET with retries (tenacity); returns the successful response and the number of attempts."""
    full_url = requests.Request("GET", url, params=params).prepare().url

    def attempt() -> requests.Response:
        try:
            response = session.get(url, params=params, headers=headers, timeout=timeout)
        except TRANSIENT_ERRORS as exc:
            raise _TransientFailure(f"{type(exc).__name__}: {exc}") from exc
        _check_status(response, response.url)
        if response.status_code in RETRYABLE_STATUS:
            failure = _TransientFailure(
                f"HTTP {response.status_code}: {_excerpt(response.text)}", _retry_after(response)
            )
            response.close()
            raise failure
        return response

    def wait(state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        retry_after = failure.retry_after if isinstance(failure, _TransientFailure) else None
        return _wait_seconds(state.attempt_number - 1, backoff, retry_after)

    def warn(state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        wait_s = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "GET %s failed (%s); retry %d/%d in %.2fs", full_url, failure, state.attempt_number, max_retries, wait_s
        )

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(_TransientFailure),
        stop=tenacity.stop_after_attempt(max_retries + 1),
        wait=wait,
        before_sleep=warn,
        reraise=True,
    )
    try:
        response = retrying(attempt)
    except _TransientFailure as last:
        raise RetriesExhaustedError(
            f"GET {full_url} failed after {max_retries + 1} attempts; last error: {last}"
        ) from None
    return response, retrying.statistics["attempt_number"]


def _parse_page(response: requests.Response, page: int) -> tuple[list[dict[str, Any]], int | None, int]:
    """``(records, next_page, total)`` of a 200 response.

    Raises:
        MalformedPageError: the body is not a JSON page (no ``data`` list, no ``next_page``, no
            non-negative integer ``total``, or a record that is not an object).
        PageOrderError: ``next_page`` is neither null nor ``page + 1``.
    """
    where = f"{response.url} (page {page})"
    try:
        body = response.json()
    except ValueError:
        raise MalformedPageError(
            f"{where}: body is not JSON (content-type "
            f"{response.headers.get('Content-Type')!r}): "
            f"{_excerpt(response.text)}"
        ) from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise MalformedPageError(f"{where}: expected an object with a 'data' list, got {_excerpt(response.text)}")
    if "next_page" not in body:
        raise MalformedPageError(f"{where}: 'next_page' is missing")
    bad = [i for i, rec in enumerate(body["data"]) if not isinstance(rec, dict)]
    if bad:
        raise MalformedPageError(f"{where}: data items {bad[:10]} are not JSON objects")
    next_page = body["next_page"]
    is_int = isinstance(next_page, int) and not isinstance(next_page, bool)
    if next_page is not None and (not is_int or next_page != page + 1):
        # A step back loops or re-reads pages; a skip silently loses the pages in between.
        raise PageOrderError(
            f"{where}: next_page {next_page!r} does not follow page {page}: "
            f"expected {page + 1} (or null on the last page)"
        )
    total = body.get("total")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise MalformedPageError(f"{where}: 'total' is {total!r}, expected a non-negative integer")
    return body["data"], next_page, total


def fetch_pages(
    base_url: str,
    path: str,
    params: Mapping[str, Any] | None,
    *,
    token: str | None,
    page_size: int,
    timeout: float,
    max_retries: int,
    backoff: float,
    max_pages: int | None = None,
    source: str | None = None,
    session: requests.Session | None = None,
) -> Iterator[Page]:
    """Yield every page of a paged JSON endpoint, starting at page 1.

    The ``total`` check runs after the last page is yielded: a caller that writes only once
    the iterator is exhausted (``list(fetch_pages(...))``) writes nothing on a mismatch.

    Args:
        base_url: scheme, host and port, e.g. ``http://127.0.0.1:8765``.
        path: endpoint path, e.g. ``/api/v1/court-events``.
        params: query parameters other than ``page``/``page_size``.
        token: bearer token (no ``Authorization`` header when None).
        page_size: records per page requested.
        timeout: seconds per request (connect and read).
        max_retries: retries per page after the first attempt.
        backoff: first backoff in seconds; doubles each retry.
        max_pages: most pages the feed may take (None: no cap).
        source: name of the feed, for the error messages (the URL when None).
        session: a session to reuse (one is created and closed otherwise).

    Raises:
        AuthenticationError, RestClientError, MalformedPageError, RetriesExhaustedError,
        PageOrderError, PageCapError, TotalMismatchError.
    """
    url = base_url.rstrip("/") + "/" + path.lstrip("/")
    own = session is None
    session = session or requests.Session()
    # Per-request headers: a caller's session is not left holding the token.
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    name = source or url
    received = 0
    announced: int | None = None
    try:
        page: int | None = 1
        while page is not None:
            if max_pages is not None and page > max_pages:
                raise PageCapError(
                    f"{name}: more than max_pages={max_pages} pages (page {max_pages} "
                    f"offers next_page {page}); raise the source's max_pages or "
                    f"ingest a shorter interval"
                )
            query = {**(params or {}), "page": page, "page_size": page_size}
            response, attempts = _get(
                session, url, query, headers=headers, timeout=timeout, max_retries=max_retries, backoff=backoff
            )
            records, next_page, total = _parse_page(response, page)
            if announced is not None and total != announced:
                # The result set changed while being paged: offsets shifted, rows may be lost or doubled.
                raise TotalMismatchError(
                    f"{name}: page {page} announces total {total}, earlier pages {announced} ({response.url})"
                )
            announced = total
            received += len(records)
            log.info("GET %s page %d: %d records (%d attempts)", url, page, len(records), attempts)
            yield Page(number=page, url=response.url, records=records, attempts=attempts)
            page = next_page
        if received != announced:
            raise TotalMismatchError(
                f"{name}: received {received} records over the pages, the API announced total {announced} ({url})"
            )
    finally:
        if own:
            session.close()


def _iso(value: date | datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def fetch_court_events(
    settings: Settings,
    *,
    published_from: date | datetime | str,
    published_to: date | datetime | str,
    token: str | None = None,
    session: requests.Session | None = None,
) -> Iterator[Page]:
    """Yield the court-event pages published in ``[published_from, published_to]``.

    Endpoint, paging (``max_pages`` the cap), timeout and retries come from
    ``ingestion.court_api``; the token from the argument or else the ``court_api.conn_id``
    connection (password) / ``token_env``.
    """
    cfg = settings.ingestion.court_api
    if token is None:
        token = get_connection(cfg.conn_id, settings=settings)["password"]
    return fetch_pages(
        cfg.base_url,
        cfg.path or COURT_EVENTS_PATH,
        {"published_from": _iso(published_from), "published_to": _iso(published_to)},
        token=token,
        page_size=cfg.page_size,
        timeout=cfg.timeout_seconds,
        max_retries=cfg.max_retries,
        backoff=cfg.backoff_seconds,
        max_pages=cfg.max_pages,
        source="court_events",
        session=session,
    )
