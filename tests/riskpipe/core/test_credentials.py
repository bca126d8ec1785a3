"""Credentials: real Airflow connection lookup (AIRFLOW_CONN_* env), then config-named env vars."""

from __future__ import annotations

import json
import logging

import pytest

from riskpipe.core.credentials import MissingCredentialsError, get_connection, jdbc_url

CONN_ID = "riskpipe_core_banking"
SECRET = "s3cr3t-pa55word"


@pytest.fixture
def clean_env(monkeypatch, settings):
    cfg = settings.ingestion.core_banking
    for name in (cfg.url_env, cfg.user_env, cfg.password_env, f"AIRFLOW_CONN_{CONN_ID.upper()}"):
        monkeypatch.delenv(name, raising=False)
    return cfg


def test_airflow_connection_from_uri(clean_env, monkeypatch, caplog, settings):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}", f"postgresql://loader:{SECRET}@db.example.internal:5433/core?sslmode=require"
    )

    with caplog.at_level(logging.DEBUG):
        creds = get_connection(CONN_ID, settings=settings)

    assert (creds["host"], creds["port"], creds["login"], creds["password"], creds["schema"]) == (
        "db.example.internal",
        5433,
        "loader",
        SECRET,
        "core",
    )
    assert creds["extra"] == {"sslmode": "require"}
    assert jdbc_url(creds) == "jdbc:postgresql://db.example.internal:5433/core"
    assert SECRET not in caplog.text


def test_airflow_connection_from_json_with_jdbc_url_extra(clean_env, monkeypatch, settings):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN_ID.upper()}",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": "db",
                "login": "loader",
                "password": SECRET,
                "extra": {"jdbc_url": "jdbc:postgresql://db:6432/core?ssl=true"},
            }
        ),
    )

    creds = get_connection(CONN_ID, settings=settings)

    assert creds["password"] == SECRET
    assert jdbc_url(creds) == "jdbc:postgresql://db:6432/core?ssl=true"


def test_env_vars_named_in_config(clean_env, monkeypatch, caplog, settings):
    monkeypatch.setenv(clean_env.url_env, "jdbc:postgresql://10.0.0.5:5432/core")
    monkeypatch.setenv(clean_env.user_env, "loader")
    monkeypatch.setenv(clean_env.password_env, SECRET)

    with caplog.at_level(logging.DEBUG):
        creds = get_connection(CONN_ID, settings=settings)

    assert creds["uri"] == jdbc_url(creds) == "jdbc:postgresql://10.0.0.5:5432/core"
    assert (creds["host"], creds["port"], creds["schema"]) == ("10.0.0.5", 5432, "core")
    assert (creds["login"], creds["password"]) == ("loader", SECRET)
    assert SECRET not in caplog.text


def test_token_env_for_the_court_api(monkeypatch, settings):
    cfg = settings.ingestion.court_api
    monkeypatch.delenv(f"AIRFLOW_CONN_{cfg.conn_id.upper()}", raising=False)
    monkeypatch.setenv(cfg.token_env, SECRET)

    assert get_connection(cfg.conn_id, settings=settings)["password"] == SECRET


def test_env_prefix(monkeypatch, settings):
    monkeypatch.setenv("ACME_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("ACME_TOKEN", SECRET)

    creds = get_connection("riskpipe_acme_unknown", env_prefix="ACME_", settings=settings)

    assert (creds["host"], creds["port"], creds["password"]) == ("127.0.0.1", 9000, SECRET)


def test_missing_credentials_name_conn_id_and_variables(clean_env, monkeypatch, settings):
    monkeypatch.setenv(clean_env.password_env, SECRET)

    with pytest.raises(MissingCredentialsError) as err:
        get_connection(CONN_ID, settings=settings)

    message = str(err.value)
    assert CONN_ID in message and f"AIRFLOW_CONN_{CONN_ID.upper()}" in message
    assert clean_env.url_env in message and clean_env.user_env in message
    assert SECRET not in message


def test_unknown_conn_id_without_env_config(settings):
    with pytest.raises(MissingCredentialsError, match="riskpipe_nowhere.*no environment variables configured"):
        get_connection("riskpipe_nowhere", settings=settings)
