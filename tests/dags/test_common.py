"""The pure helpers of dags/_common.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dags._common import interval_dates, logical_date_for, resolve_mode, small_summary


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_interval_dates_are_iso_days_end_exclusive():
    context = {"data_interval_start": _utc(2019, 2, 1), "data_interval_end": _utc(2019, 3, 1)}
    assert interval_dates(context) == ("2019-02-01", "2019-03-01")


@pytest.mark.parametrize(
    "context", [{}, {"data_interval_start": _utc(2019, 2, 1, 6), "data_interval_end": _utc(2019, 2, 2, 6)}]
)
def test_interval_dates_reject_missing_or_partial_days(context):
    with pytest.raises(ValueError, match="interval"):
        interval_dates(context)


def test_logical_date_for_is_the_end_of_the_interval(dagbag):
    assert logical_date_for(dagbag.dags["ingest_tax"], "2019-02-01") == _utc(2019, 3, 1)
    assert logical_date_for(dagbag.dags["ingest_transactions"], "2019-02-28") == _utc(2019, 3, 1)


def test_small_summary_keeps_scalars_of_a_large_summary():
    summary = {"batch_id": "b1", "rows_published": 3, "files": [f"f{i}" for i in range(2000)]}
    assert small_summary(summary) == {"batch_id": "b1", "rows_published": 3}
    assert small_summary({"batch_id": "b1", "files": ["a"]}) == {"batch_id": "b1", "files": ["a"]}


def test_mode_files_and_auto_without_credentials(monkeypatch, settings):
    for name in (
        "RISKPIPE_CORE_BANKING_JDBC_URL",
        "RISKPIPE_CORE_BANKING_USER",
        "RISKPIPE_CORE_BANKING_PASSWORD",
        "AIRFLOW_CONN_RISKPIPE_CORE_BANKING",
    ):
        monkeypatch.delenv(name, raising=False)
    assert resolve_mode("files", settings=settings) == "files"
    assert resolve_mode("auto", settings=settings) == "files"
    with pytest.raises(ValueError, match="riskpipe_core_banking"):
        resolve_mode("jdbc", settings=settings)
    with pytest.raises(ValueError, match="mode must be"):
        resolve_mode("ftp", settings=settings)


def test_mode_auto_picks_jdbc_when_env_vars_are_set(monkeypatch, settings):
    monkeypatch.setenv("RISKPIPE_CORE_BANKING_JDBC_URL", "jdbc:postgresql://127.0.0.1:5432/core")
    monkeypatch.setenv("RISKPIPE_CORE_BANKING_USER", "riskpipe")
    monkeypatch.setenv("RISKPIPE_CORE_BANKING_PASSWORD", "secret")
    assert resolve_mode("auto", settings=settings) == "jdbc"
    assert resolve_mode("jdbc", settings=settings) == "jdbc"
