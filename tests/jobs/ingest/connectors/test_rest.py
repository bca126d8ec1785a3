"""Paged REST client against a real HTTP server on localhost with injected faults."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from jobs.ingest.connectors.rest import (
    AuthenticationError,
    MalformedPageError,
    PageCapError,
    PageOrderError,
    RestClientError,
    RetriesExhaustedError,
    TotalMismatchError,
    _wait_seconds,
    fetch_court_events,
    fetch_pages,
)
from tests.jobs.ingest.connectors.conftest import EVENTS_PATH, TOKEN, Fault

FAST = {"page_size": 5, "timeout": 2.0, "max_retries": 3, "backoff": 0.01}


def fetch(stub, params=None, **overrides):
    options = {**FAST, "token": TOKEN, **overrides}
    return list(fetch_pages(stub.base_url, EVENTS_PATH, params or {}, **options))


def event_ids(pages):
    return [r["event_id"] for p in pages for r in p.records]


def test_every_event_exactly_once_across_pages(court_api):
    pages = fetch(court_api)

    ids = event_ids(pages)
    assert [p.number for p in pages] == [1, 2, 3, 4, 5]
    assert len(ids) == 23 and set(ids) == {e["event_id"] for e in court_api.events}
    assert [len(p.records) for p in pages] == [5, 5, 5, 5, 3]
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in court_api.requests)
    assert all(r["query"]["page_size"] == "5" for r in court_api.requests)
    assert all(p.attempts == 1 for p in pages)


def test_query_parameters_are_sent_on_every_page(court_api):
    pages = fetch(court_api, {"published_from": "2024-01-03", "published_to": "2024-01-12"})

    assert event_ids(pages) == [f"E{i:04d}" for i in range(2, 12)]
    assert all(r["query"]["published_from"] == "2024-01-03" for r in court_api.requests)


def test_429_honours_retry_after(court_api):
    court_api.inject(2, Fault("status", 429, {"Retry-After": "1"}, '{"error": "slow down"}'))

    started = time.monotonic()
    pages = fetch(court_api)

    assert time.monotonic() - started >= 1.0  # backoff alone would be ~0.01 s
    assert court_api.count(2) == 2 and pages[1].attempts == 2
    assert Counter(event_ids(pages)) == Counter(e["event_id"] for e in court_api.events)


def test_5xx_then_success_is_retried_without_duplicates(court_api):
    court_api.inject(3, Fault("status", 500, body="boom"), Fault("status", 503, body="busy"))

    pages = fetch(court_api)

    assert court_api.count(3) == 3 and pages[2].attempts == 3
    assert len(event_ids(pages)) == len(set(event_ids(pages))) == 23


def test_dropped_connection_is_retried(court_api):
    court_api.inject(1, Fault("drop"))

    pages = fetch(court_api)

    assert court_api.count(1) == 2
    assert len(event_ids(pages)) == 23


def test_persistent_5xx_fails_after_max_retries(court_api):
    court_api.inject(2, *[Fault("status", 502, body="bad gateway")] * 10)

    with pytest.raises(RetriesExhaustedError, match=r"page=2.*after 3 attempts.*HTTP 502") as err:
        fetch(court_api, max_retries=2)

    assert court_api.count(2) == 3
    assert court_api.base_url in str(err.value)


def test_wrong_token_is_an_authentication_error_without_retry(court_api):
    with pytest.raises(AuthenticationError, match="HTTP 401") as err:
        fetch(court_api, token="wrong-token")

    assert court_api.base_url + EVENTS_PATH in str(err.value)
    assert "wrong-token" not in str(err.value)
    assert len(court_api.requests) == 1


def test_403_is_an_authentication_error(court_api):
    court_api.inject(2, Fault("status", 403, body='{"error": "forbidden"}'))

    with pytest.raises(AuthenticationError, match="HTTP 403"):
        fetch(court_api)
    assert court_api.count(2) == 1


def test_404_is_a_client_error_with_status_and_body(court_api):
    with pytest.raises(RestClientError, match="HTTP 404") as err:
        list(fetch_pages(court_api.base_url, "/api/v1/no-such-thing", {}, token=TOKEN, **FAST))

    assert err.value.status == 404 and "no route" in err.value.body
    assert len(court_api.requests) == 1


@pytest.mark.parametrize(
    "body, reason",
    [
        ("<html><body><h1>Maintenance</h1></body></html>", "not JSON"),
        ('{"data": [{"event_id": "E0005"}, {"event_', "not JSON"),
        (json.dumps({"page": 2, "next_page": 3}), "'data' list"),
        (json.dumps({"data": [1, 2], "next_page": 3}), "not JSON objects"),
        (json.dumps({"data": [], "next_page": 1}), "does not follow page 2"),
        (json.dumps({"data": [], "next_page": 3}), "'total' is None"),
        (json.dumps({"data": [], "next_page": 3, "total": "23"}), "'total' is '23'"),
    ],
)
def test_malformed_200_names_url_and_page(court_api, body, reason):
    court_api.inject(2, Fault("body", 200, body=body))

    with pytest.raises(MalformedPageError, match=reason) as err:
        fetch(court_api)

    assert "page 2" in str(err.value) and court_api.base_url in str(err.value)
    assert court_api.count(2) == 1


def _page_body(page: int, records: list, *, total: int = 23, next_page: int | None = None) -> str:
    return json.dumps({"data": records, "page": page, "page_size": 5, "total": total, "next_page": next_page})


@pytest.mark.parametrize("offered", [4, 7, 2, 1])
def test_next_page_other_than_the_following_one_is_refused_naming_expected_and_offered(court_api, offered):
    court_api.inject(2, Fault("body", 200, body=_page_body(2, court_api.events[5:10], next_page=offered)))

    with pytest.raises(PageOrderError, match=rf"next_page {offered} does not follow page 2: expected 3") as err:
        fetch(court_api)

    assert court_api.base_url in str(err.value)
    assert [r["page"] for r in court_api.requests] == [1, 2]  # nothing fetched after the bad page


def test_more_pages_than_the_cap_fails_naming_source_and_cap(court_api):
    with pytest.raises(PageCapError, match=r"court_events: more than max_pages=4 pages"):
        fetch(court_api, max_pages=4, source="court_events")

    assert [court_api.count(p) for p in (1, 2, 3, 4, 5)] == [1, 1, 1, 1, 0]


def test_a_feed_of_exactly_the_cap_is_read_whole(court_api):
    pages = fetch(court_api, max_pages=5, source="court_events")

    assert len(pages) == 5 and len(event_ids(pages)) == 23


def test_rows_not_adding_up_to_the_announced_total_fail_naming_both_counts(court_api):
    # page 3 lost a record (deleted while the client paged): 22 received, 23 announced
    court_api.inject(3, Fault("body", 200, body=_page_body(3, court_api.events[10:14], next_page=4)))

    with pytest.raises(TotalMismatchError, match=r"court_events: received 22 records .* announced total 23"):
        fetch(court_api, source="court_events")

    assert court_api.count(5) == 1  # the check counts the whole feed, after its last page


def test_a_total_that_changes_between_pages_fails_naming_both(court_api):
    court_api.inject(4, Fault("body", 200, body=_page_body(4, court_api.events[15:20], total=24, next_page=5)))

    with pytest.raises(TotalMismatchError, match=r"page 4 announces total 24, earlier pages 23"):
        fetch(court_api, source="court_events")

    assert court_api.count(5) == 0


def test_an_empty_feed_matches_its_zero_total(court_api):
    pages = fetch(court_api, {"published_from": "2030-01-01"})

    assert [p.records for p in pages] == [[]]


def test_hanging_response_times_out_and_is_retried(court_api):
    court_api.inject(4, Fault("hang", seconds=5))

    pages = fetch(court_api, timeout=0.3)

    assert court_api.count(4) == 2 and pages[3].attempts == 2
    assert len(event_ids(pages)) == 23


def test_persistent_hang_fails_with_timeout(court_api):
    court_api.inject(1, *[Fault("hang", seconds=5)] * 3)

    started = time.monotonic()
    with pytest.raises(RetriesExhaustedError, match="Timeout"):
        fetch(court_api, timeout=0.2, max_retries=1)
    assert time.monotonic() - started < 3


def test_backoff_grows_with_jitter_and_respects_retry_after():
    waits = [_wait_seconds(attempt, 0.1, None) for attempt in range(4)]

    for attempt, wait in enumerate(waits):
        assert 0.05 * 2**attempt <= wait < 0.1 * 2**attempt
    assert _wait_seconds(0, 0.1, 2.5) == 2.5
    assert _wait_seconds(30, 1.0, None) == 300.0


def _court_settings(settings, base_url, page_size=10, **court_api):
    court_api.update(base_url=base_url, page_size=page_size, backoff_seconds=0.01, conn_id="riskpipe_court_api_test")
    return settings.merged({"ingestion": {"court_api": court_api}})


def test_court_events_page_cap_comes_from_the_source_config(court_api, settings):
    assert settings.ingestion.court_api.max_pages >= 1000  # the default is not a test's value

    pages = list(
        fetch_court_events(
            _court_settings(settings, court_api.base_url, 5, max_pages=5),
            published_from="2024-01-01",
            published_to="2024-12-31",
            token=TOKEN,
        )
    )
    assert len(pages) == 5
    with pytest.raises(PageCapError, match=r"court_events: more than max_pages=2 pages"):
        list(
            fetch_court_events(
                _court_settings(settings, court_api.base_url, 5, max_pages=2),
                published_from="2024-01-01",
                published_to="2024-12-31",
                token=TOKEN,
            )
        )


def test_fetch_court_events_uses_config_and_token_env(court_api, settings, monkeypatch):
    monkeypatch.setenv(settings.ingestion.court_api.token_env, TOKEN)

    pages = list(
        fetch_court_events(
            _court_settings(settings, court_api.base_url), published_from="2024-01-01", published_to="2024-01-20"
        )
    )

    assert len(pages) == 2 and len(event_ids(pages)) == 20
    assert court_api.requests[0]["query"]["page_size"] == "10"


def test_fetch_court_events_token_from_airflow_connection(court_api, settings, monkeypatch):
    monkeypatch.delenv(settings.ingestion.court_api.token_env, raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_RISKPIPE_COURT_API_TEST",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "password": TOKEN}),
    )

    pages = list(
        fetch_court_events(
            _court_settings(settings, court_api.base_url), published_from="2024-01-01", published_to="2024-12-31"
        )
    )

    assert len(event_ids(pages)) == 23


def test_simulator_court_api_every_event_once_through_its_faults(tmp_path, settings):
    from riskpipe.simulate import SimConfig, simulate
    from riskpipe.simulate import server as server_mod

    simulate(SimConfig(enterprises=50, months=6, quiet=True, sources=("court",)), tmp_path)
    expected = server_mod.load_events(tmp_path)
    page_size = max(1, len(expected) // 3)  # at least three pages, whatever the simulator yields
    server, thread = server_mod.start_server(
        tmp_path, "127.0.0.1", 0, token=TOKEN, faults={"500_once_on_page": 2, "429_every": 3}
    )
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        pages = list(
            fetch_court_events(
                _court_settings(settings, base_url, page_size),
                published_from="1900-01-01",
                published_to="2999-12-31",
                token=TOKEN,
            )
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

    got = [r for p in pages for r in p.records]
    assert len(expected) >= 3 and len(pages) == -(-len(expected) // page_size)
    assert Counter(json.dumps(r, sort_keys=True) for r in got) == Counter(
        json.dumps(r, sort_keys=True) for r in expected if "1900-01-01" <= str(r["published_date"]) <= "2999-12-31"
    )
    assert sum(p.attempts for p in pages) > len(pages)  # the injected faults were retried
