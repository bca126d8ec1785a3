"""Credentials for source systems: an Airflow connection first, then environment variables.

Resolution order for ``get_connection(conn_id)``:

1. the Airflow connection ``conn_id`` (``airflow.sdk.Connection.get``), which covers the
   metadata database, any configured secrets backend and ``AIRFLOW_CONN_<CONN_ID>``
   environment variables (URI or JSON);
2. plain environment variables named in the ``ingestion`` section of the profile whose
   ``conn_id`` matches (``token_env``, ``url_env``, ``user_env``, ``password_env``),
   or ``<ENV_PREFIX>TOKEN/URL/USER/PASSWORD`` when ``env_prefix`` is given.

``jdbc_url`` and ``jdbc_properties`` turn the credentials into what the JDBC driver takes:
connection extras (``sslmode``, ``sslrootcert`` ... from the Airflow connection's extra, or
``jdbc_properties`` in the profile's ingestion section) become driver properties, so a
connection configured for ``sslmode=verify-full`` is never opened in plaintext.

Secrets are never logged: log lines name the conn_id, variable and property names only. They are
looked up when a connection is opened, never copied into the settings (which only name the
variables), so this module of the core, beside the settings, is where a job's connector gets them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from riskpipe.core.config import Settings

log = logging.getLogger(__name__)

# Config keys naming environment variables -> field of the returned credentials.
ENV_FIELDS = {"url_env": "uri", "user_env": "login", "password_env": "password", "token_env": "password"}
# Suffixes used with ``env_prefix`` (in this order) -> field.
PREFIX_FIELDS = {"URL": "uri", "USER": "login", "PASSWORD": "password", "TOKEN": "password"}


class MissingCredentialsError(LookupError):
    """No usable credentials for a conn_id; the message names everything tried."""


def _empty() -> dict[str, Any]:
    return {"host": None, "port": None, "login": None, "password": None, "schema": None, "extra": {}, "uri": None}


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
        log.warning(
            "Airflow connection lookup for %s failed (%s); trying environment variables", conn_id, type(exc).__name__
        )
        return None
    return {
        "host": conn.host,
        "port": conn.port,
        "login": conn.login,
        "password": conn.password,
        "schema": conn.schema,
        "extra": dict(conn.extra_dejson or {}),
        "uri": conn.get_uri(),
    }


def _config_env_names(conn_id: str, settings: Settings) -> dict[str, str]:
    """``{field: ENV_VAR}`` from the connection of the ingestion section whose ``conn_id`` matches."""
    for section in (settings.ingestion.court_api, settings.ingestion.core_banking):
        if section.conn_id == conn_id:
            names = {key: getattr(section, key, None) for key in ENV_FIELDS}
            return {ENV_FIELDS[key]: str(name) for key, name in names.items() if name}
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
    parts = urlsplit(uri[len("jdbc:") :] if uri.startswith("jdbc:") else uri)
    creds["host"] = parts.hostname
    try:
        creds["port"] = parts.port
    except ValueError:
        creds["port"] = None
    creds["schema"] = parts.path.lstrip("/").split(";")[0] or None


def get_connection(
    conn_id: str,
    *,
    settings: Settings,
    env_prefix: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Resolve credentials for ``conn_id``.

    Args:
        conn_id: Airflow connection id, also the ``conn_id`` of an ``ingestion`` config section.
        env_prefix: read ``<prefix>URL``, ``<prefix>USER``, ``<prefix>PASSWORD``/``<prefix>TOKEN``
            instead of the variable names from the profile.
        settings: resolved settings (the ``ingestion`` sections name the variables).
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
        names = _config_env_names(conn_id, settings)
        tried = sorted(names.values())
    missing = sorted(name for name in (names.values() if names else tried) if not env.get(name))
    if not names and not tried:
        raise MissingCredentialsError(
            f"no credentials for conn_id {conn_id!r}: no Airflow connection (e.g. env {airflow_var}) "
            "and no environment variables configured for it (an ingestion section with this "
            "conn_id and *_env keys, or env_prefix)"
        )
    if missing or not names:
        raise MissingCredentialsError(
            f"no credentials for conn_id {conn_id!r}: no Airflow connection (e.g. env {airflow_var}) "
            f"and environment variables missing or empty: {', '.join(missing)} "
            f"(tried: {', '.join(tried)})"
        )
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


# pgjdbc connection properties an extra may set, by their pgjdbc names.
PGJDBC_PROPERTIES = frozenset(
    {
        "ssl",
        "sslmode",
        "sslfactory",
        "sslfactoryarg",
        "sslhostnameverifier",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "sslpassword",
        "sslpasswordcallback",
        "sslResponseTimeout",
        "sslNegotiation",
        "connectTimeout",
        "socketTimeout",
        "loginTimeout",
        "cancelSignalTimeout",
        "tcpKeepAlive",
        "tcpNoDelay",
        "ApplicationName",
        "options",
        "currentSchema",
        "targetServerType",
        "loadBalanceHosts",
        "hostRecheckSeconds",
        "gssEncMode",
        "gsslib",
        "channelBinding",
        "kerberosServerName",
        "jaasApplicationName",
        "readOnly",
        "readOnlyMode",
        "prepareThreshold",
        "preparedStatementCacheQueries",
        "defaultRowFetchSize",
        "stringtype",
        "assumeMinServerVersion",
        "binaryTransfer",
        "preferQueryMode",
        "autosave",
        "reWriteBatchedInserts",
        "receiveBufferSize",
        "sendBufferSize",
        "maxResultBuffer",
        "adaptiveFetch",
        "localSocketAddress",
        "authenticationPluginClassName",
        "logUnclosedConnections",
        "escapeSyntaxCallMode",
    }
)
# libpq spellings (as in a ``postgresql://...?sslmode=...`` Airflow connection URI) -> pgjdbc names.
LIBPQ_ALIASES = {
    "connect_timeout": "connectTimeout",
    "application_name": "ApplicationName",
    "gssencmode": "gssEncMode",
    "channel_binding": "channelBinding",
    "sslnegotiation": "sslNegotiation",
}
# Extras of the Airflow Postgres connection that configure Airflow's hook, not the driver.
AIRFLOW_ONLY_EXTRAS = frozenset(
    {
        "jdbc_url",
        "cursor",
        "iam",
        "redshift",
        "redshift-serverless",
        "aws_conn_id",
        "cluster-identifier",
        "workgroup-name",
        "enable_log_db_messages",
        "sqlalchemy_scheme",
        "sqlalchemy_options",
        "sqlalchemy_query",
    }
)


def _driver_properties(extras: Mapping[str, Any], origin: str) -> dict[str, str]:
    properties: dict[str, str] = {}
    for key, value in extras.items():
        if key in AIRFLOW_ONLY_EXTRAS or value is None:
            continue
        name = LIBPQ_ALIASES.get(key, key)
        if name not in PGJDBC_PROPERTIES:
            # A misspelt ``sslmode`` dropped here would let the driver fall back to plaintext.
            raise ValueError(
                f"{origin}: {key!r} is not a PostgreSQL JDBC connection property "
                f"(known: {', '.join(sorted(PGJDBC_PROPERTIES | set(LIBPQ_ALIASES)))})"
            )
        properties[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return properties


def jdbc_properties(
    creds: Mapping[str, Any], *, configured: Mapping[str, Any] | None = None, conn_id: str = "connection"
) -> dict[str, str]:
    """Driver properties for a JDBC read: user, password and the connection extras.

    Args:
        creds: credentials from ``get_connection``; ``extra`` (the Airflow connection's extra)
            may hold driver properties in pgjdbc (``sslmode``, ``sslrootcert``, ``connectTimeout``)
            or libpq (``connect_timeout``, ``application_name``) spelling.
        configured: ``jdbc_properties`` of the profile's ingestion section, for a deployment
            whose credentials come from environment variables; the connection's extra
            overrides a property set in both.
        conn_id: named in error messages.

    Returns:
        ``{"user", "password", <driver properties>}`` (values as text). Log only its keys.

    Raises:
        ValueError: an extra that is neither a driver property nor an Airflow-only extra
            (a misspelt ``sslmode`` would otherwise be dropped silently).
    """
    properties = _driver_properties(configured or {}, "ingestion jdbc_properties")
    properties.update(_driver_properties(creds.get("extra") or {}, f"extra of {conn_id}"))
    if properties:
        log.info("JDBC driver properties for %s: %s", conn_id, sorted(properties))
    return {"user": creds.get("login") or "", "password": creds.get("password") or "", **properties}
