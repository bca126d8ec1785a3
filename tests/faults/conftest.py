"""Fault-injection suite: record every test's ``reliability`` rows, write ``docs/reliability.md``.

Works with and without pytest-xdist: each process (a worker, or the only one) merges the rows
of the tests it ran into the document under a file lock at session end; see ``reliability.py``.
"""

from __future__ import annotations

import pytest

# The Airflow fixtures (a migrated SQLite metadata DB in a throwaway AIRFLOW_HOME, the DagBag):
# importing the DAG tests' conftest also points AIRFLOW_HOME there before Airflow is imported.
from tests.dags.conftest import airflow_home, dagbag  # noqa: E402,F401
from tests.faults import reliability

_ROWS: dict[str, list[reliability.Row]] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{reliability.MARKER}(guarantee, fault, checked): a row of docs/reliability.md, its result the test's outcome",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    result = reliability.outcome(report)
    marks = list(item.iter_markers(reliability.MARKER))
    if result is None or not marks:
        return
    if report.when == "call" or item.nodeid not in _ROWS or result == "FAIL":
        _ROWS[item.nodeid] = reliability.marker_rows(reversed(marks), item.nodeid, result)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    rows = [row for rows in _ROWS.values() for row in rows]
    if rows:
        reliability.merge_into(reliability.DOC, rows)
