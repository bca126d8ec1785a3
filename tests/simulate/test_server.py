"""Court REST API: auth, paging, parameter validation and fault injection."""

import json
import urllib.error
import urllib.request

import pytest

from riskpipe.simulate.server import start_server

TOKEN = "test-token"


@pytest.fixture(scope="module")
def court_root(dirty_data):
    return dirty_data[0]


def _get(base: str, query: str, token: str | None = TOKEN):
    req = urllib.request.Request(f"{base}/api/v1/court-events?{query}")
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


@pytest.fixture()
def api(court_root, request):
    faults = getattr(request, "param", None)
    server, thread = start_server(court_root, "127.0.0.1", 0, TOKEN, faults=faults)
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _file_lines(root):
    lines = []
    for line in (root / "court/events.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            lines.append(json.dumps(json.loads(line), sort_keys=True, ensure_ascii=False))
        except json.JSONDecodeError:
            pass
    return lines


def test_token_required(api):
    assert _get(api, "page=1", token=None)[0] == 401
    status, body, headers = _get(api, "page=1", token="wrong")
    assert status == 401 and body["error"] == "unauthorized"


def test_bad_parameters_give_400(api):
    for query in ("published_from=2020-13-01", "page=0", "page_size=x", "page_size=100000"):
        assert _get(api, query)[0] == 400, query


def test_paging_returns_every_event_exactly_once(api, court_root):
    seen, page, total = [], 1, None
    while page is not None:
        status, body, _ = _get(api, f"page={page}&page_size=37")
        assert status == 200
        total = body["total"]
        seen.extend(body["data"])
        page = body["next_page"]
    assert len(seen) == total
    got = sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in seen)
    assert got == sorted(_file_lines(court_root))
    keys = [(r["published_date"], r["event_id"]) for r in seen]
    assert keys == sorted(keys)


def test_date_filter(api):
    status, body, _ = _get(api, "published_from=2019-06-01&published_to=2019-06-30&page_size=5000")
    assert status == 200 and body["total"] == len(body["data"]) > 0
    assert all("2019-06-01" <= r["published_date"] <= "2019-06-30" for r in body["data"])
    assert body["next_page"] is None


@pytest.mark.parametrize("api", [{"429_every": 2, "500_once_on_page": 3}], indirect=True)
def test_fault_injection(api):
    assert _get(api, "page=1")[0] == 200
    status, _, headers = _get(api, "page=1")
    assert status == 429 and headers.get("Retry-After") == "1"
    assert _get(api, "page=3")[0] == 500
    assert _get(api, "page=3")[0] == 429
    assert _get(api, "page=3")[0] == 200


def test_refuses_to_start_without_token(court_root):
    with pytest.raises(ValueError):
        start_server(court_root, "127.0.0.1", 0, "")
