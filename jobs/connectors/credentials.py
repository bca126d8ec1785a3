"""Credentials for source systems: an Airflow connection first, then environment variables.

Resolution order for ``get_connection(conn_id)``:

1. the Airflow connection ``conn_id`` (``airflow.sdk.Connection.get``), which covers the
   metadata database, any configured secrets backend and ``AIRFLOW_CONN_<CONN_ID>``
   environment variables (URI or JSON);
2. plain environment variables named in the ``ingestion`` section of the profile whose
   ``conn_id`` matches (``token_env``, ``url_env``, ``user_env``, ``password_env``),
   or ``<ENV_PREFIX>TOKEN/URL/USER/PASSWORD`` when ``env_prefix`` is given.

Secrets are never logged: log lines name the conn_id and the variable names only.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping
from urllib.parse import urlsplit

from riskpipe.config import Settings, load_settings

log = logging.getLogger(__name__)

# Config keys naming environment variables -> field of the returned credentials.
ENV_FIELDS = {"url_env": "uri", "user_env": "login", "password_env": "password", "token_env": "password"}
# Suffixes used with ``env_prefix`` (in this order) -> field.
PREFIX_FIELDS = {"URL": "uri", "USER": "login", "PASSWORD": "password", "TOKEN": "password"}


class MissingCredentialsError(LookupError):
    """No usable credentials for a conn_id; the message names everything tried."""


def _empty() -> dict[str, Any]:
    return {"host": None, "port": None, "login": None, "password": None,
            "schema": None, "extra": {}, "uri": None}


def _from_airflow(conn_id: str) -> dict[str, Any] | None:
    """The Airflow connection as a dict, or None when Airflow does not define it."""
    try:
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # Airflow is optional for plain CLI runs
        return None
    try:
        conn = Connection.get(conn_id)
    except AirflowNotFoundException:
        return None
    except Exception as exc:  # noqa: BLE001 - no metadata DB outside a deployment is normal
        # Only the exception type: its message could quote a connection URI.
        log.warning("Airflow connection lookup for %s failed (%s); trying environment variables",
                    conn_id, type(exc).__name__)
        return None
    return {"host": conn.host, "port": conn.port, "login": conn.login, "password": conn.password,
            "schema": conn.schema, "extra": dict(conn.extra_dejson or {}), "uri": conn.get_uri()}


def _config_env_names(conn_id: str, settings: Settings) -> dict[str, str]:
    """``{field: ENV_VAR}`` from the ingestion section whose ``conn_id`` matches."""
    ingestion: Mapping[str, Any] = settings.raw.get("ingestion") or {}
    for section in ingestion.values():
        if isinstance(section, Mapping) and section.get("conn_id") == conn_id:
            return {ENV_FIELDS[key]: str(section[key]) for key in ENV_FIELDS if section.get(key)}
    return {}


def _prefix_env_names(env_prefix: str, env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """``({field: ENV_VAR} of the prefixed variables that are set, all names tried)``."""
    tried = [f"{env_prefix}{suffix}" for suffix in PREFIX_FIELDS]
    names: dict[str, str] = {}
    for suffix, field in PREFIX_FIELDS.items():
        # TOKEN and PASSWORD both fill ``password``; whichever is set is used.
        if env.get(f"{env_prefix}{suffix}"):
            names[field] = f"{env_prefix}{suffix}"
    return names, tried


def _fill_from_uri(creds: dict[str, Any]) -> None:
    """Derive host/port/schema from a URL (``jdbc:postgresql://h:p/db`` or ``http://h:p``)."""
    uri = creds["uri"]
    parts = urlsplit(uri[len("jdbc:"):] if uri.startswith("jdbc:") else uri)
    creds["host"] = parts.hostname
    try:
        creds["port"] = parts.port
    except ValueError:
        creds["port"] = None
    creds["schema"] = parts.path.lstrip("/").split(";")[0] or None


def get_connection(conn_id: str, *, env_prefix: str | None = None,
                   settings: Settings | None = None,
                   env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resolve credentials for ``conn_id``.

    Args:
        conn_id: Airflow connection id, also the ``conn_id`` of an ``ingestion`` config section.
        env_prefix: read ``<prefix>URL``, ``<prefix>USER``, ``<prefix>PASSWORD``/``<prefix>TOKEN``
            instead of the variable names from the profile.
        settings: resolved settings (loaded when None).
        env: environment mapping (``os.environ`` when None).

    Returns:
        ``{"host", "port", "login", "password", "schema", "extra", "uri"}``; a bearer token
        is returned as ``password``; ``uri`` is the connection URI or the configured URL.

    Raises:
        MissingCredentialsError: neither source has the credentials; names the conn_id,
            the ``AIRFLOW_CONN_*`` variable and every environment variable tried.
    """
    creds = _from_airflow(conn_id)
    if creds is not None:
        log.info("credentials for %s from the Airflow connection", conn_id)
        return creds
    env = os.environ if env is None else env
    airflow_var = f"AIRFLOW_CONN_{conn_id.upper()}"
    if env_prefix:
        # With a prefix any subset may be set (a token alone, or URL + user + password).
        names, tried = _prefix_env_names(env_prefix, env)
    else:
        names = _config_env_names(conn_id, settings or load_settings())
        tried = sorted(names.values())
    missing = sorted(name for name in (names.values() if names else tried) if not env.get(name))
    if not names and not tried:
        raise MissingCredentialsError(
            f"no credentials for conn_id {conn_id!r}: no Airflow connection (e.g. env {airflow_var}) "
            "and no environment variables configured for it (an ingestion section with this "
            "conn_id and *_env keys, or env_prefix)")
    if missing or not names:
        raise MissingCredentialsError(
            f"no credentials for conn_id {conn_id!r}: no Airflow connection (e.g. env {airflow_var}) "
            f"and environment variables missing or empty: {', '.join(missing)} "
            f"(tried: {', '.join(tried)})")
    creds = _empty()
    for field, name in names.items():
        creds[field] = env[name]
    if creds["uri"]:
        _fill_from_uri(creds)
    log.info("credentials for %s from environment variables %s", conn_id, sorted(names.values()))
    return creds


def jdbc_url(creds: Mapping[str, Any], *, driver: str = "postgresql") -> str:
    """JDBC URL for credentials from either source.

    A ``jdbc:`` uri (environment) or ``extra["jdbc_url"]`` is used as is; otherwise the URL is
    built from host, port and schema (the database) of an Airflow connection.
    """
    uri = creds.get("uri") or ""
    if uri.startswith("jdbc:"):
        return uri
    extra = creds.get("extra") or {}
    if extra.get("jdbc_url"):
        return str(extra["jdbc_url"])
    if not creds.get("host"):
        raise MissingCredentialsError("cannot build a JDBC URL: the connection has no host")
    port = f":{creds['port']}" if creds.get("port") else ""
    return f"jdbc:{driver}://{creds['host']}{port}/{creds.get('schema') or ''}"
