"""A real, throwaway PostgreSQL server for tests and local integration runs.

``PostgresServer`` runs ``initdb`` and ``pg_ctl`` from the PATH or ``/usr/lib/postgresql/*/bin``
in a temporary folder, listens on a free localhost port, and creates a database and a login
role with a password (SCRAM over TCP, so clients authenticate as in production)::

    with PostgresServer() as pg:
        conn = psycopg2.connect(pg.dsn)
        spark.read.jdbc(pg.jdbc_url, "t", properties={"user": pg.user, "password": pg.password})

PostgreSQL refuses to run as root, so when we are root the server runs as the ``postgres``
system user (created when missing) and the temporary folder belongs to it.

With ``ssl_cert`` and ``ssl_key`` (PEM files, e.g. from ``riskpipe.testing.tls``) the server
also accepts TLS (``ssl=on``); plaintext connections stay allowed, so a client's ``sslmode``
decides, as against a production server that offers both.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from riskpipe.testing.services import free_port

SYSTEM_USER = "postgres"
START_TIMEOUT_SECONDS = 60
# Durability is pointless for a throwaway server and slows every commit.
FAST_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=30",
    "shared_buffers=32MB",
)


class PostgresNotAvailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bindir() -> Path:
    """Folder holding ``initdb`` and ``pg_ctl`` (PATH first, then the newest Debian version)."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresNotAvailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
        "/usr/lib/postgresql/*/bin: install the Debian package `postgresql` "
        "(apt-get install postgresql; .ci/run does this)."
    )


def _system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


class PostgresServer:
    """Context manager around a temporary PostgreSQL cluster.

    Attributes (valid inside the ``with`` block):
        host, port, database, user, password: connection parameters of the login role.
        dsn: libpq DSN for psycopg2; ``jdbc_url``: for Spark; ``uri``: ``postgresql://`` URI
            (also a valid ``AIRFLOW_CONN_*`` value).
    """

    def __init__(
        self,
        *,
        database: str = "riskpipe",
        user: str = "riskpipe",
        password: str | None = None,
        port: int | None = None,
        ssl_cert: str | Path | None = None,
        ssl_key: str | Path | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.database = database
        self.user = user
        self.password = password or secrets.token_urlsafe(16)
        self.port = port or 0
        if (ssl_cert is None) != (ssl_key is None):
            raise ValueError("TLS needs both ssl_cert and ssl_key")
        self.ssl_files = (Path(ssl_cert), Path(ssl_key)) if ssl_cert is not None else None
        self.bindir = find_bindir()
        self._tmp: Path | None = None
        self._run_as: pwd.struct_passwd | None = None

    # -- connection strings -------------------------------------------------
    @property
    def dsn(self) -> str:
        return self.dsn_for(self.database)

    def dsn_for(self, database: str) -> str:
        """libpq DSN of ``database`` for the login role."""
        return f"host={self.host} port={self.port} dbname={database} user={self.user} password={self.password}"

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}"

    @property
    def uri(self) -> str:
        return self.uri_for(self.database)

    def uri_for(self, database: str, *, driver: str | None = None) -> str:
        """``postgresql[+driver]://`` URI of ``database`` for the login role (SQLAlchemy, ``AIRFLOW_CONN_*``)."""
        user, password = quote(self.user, safe=""), quote(self.password, safe="")
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{user}:{password}@{self.host}:{self.port}/{database}"

    @property
    def jdbc_properties(self) -> dict[str, str]:
        return {"user": self.user, "password": self.password, "driver": "org.postgresql.Driver"}

    def connect(self, **kwargs: Any):
        """A psycopg2 connection as the login role."""
        import psycopg2

        return psycopg2.connect(self.dsn, **kwargs)

    # -- life cycle ---------------------------------------------------------
    def _run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
        extra: dict[str, Any] = {}
        if self._run_as is not None:
            extra = {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}
        env = {**os.environ, "HOME": str(self._tmp), "LC_ALL": "C.UTF-8"}
        result = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self._tmp,
            env=env,
            capture_output=True,
            text=True,
            **extra,
            **kwargs,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()}{self._log_tail()}")
        return result

    def _log_tail(self) -> str:
        log = self._tmp / "server.log" if self._tmp else None
        if log is None or not log.exists():
            return ""
        return "\nserver log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])

    def start(self) -> PostgresServer:
        self._tmp = Path(tempfile.mkdtemp(prefix="riskpipe-pg-"))
        if os.geteuid() == 0:
            self._run_as = _system_user()
            os.chown(self._tmp, self._run_as.pw_uid, self._run_as.pw_gid)
        try:
            self._run(
                "initdb",
                "-D",
                "data",
                "-U",
                SYSTEM_USER,
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            )
            self._install_certificate()
            self._start_server()
            self._create_role_and_database()
        except BaseException:
            self.stop()
            raise
        return self

    def _install_certificate(self) -> None:
        """Copy the certificate and key into the data folder, owned by the server's user."""
        if self.ssl_files is None:
            return
        for source, name in zip(self.ssl_files, ("server.crt", "server.key")):
            target = self._tmp / "data" / name
            shutil.copyfile(source, target)
            # the server refuses a key file readable by anyone but its owner
            os.chmod(target, 0o600)
            if self._run_as is not None:
                os.chown(target, self._run_as.pw_uid, self._run_as.pw_gid)

    def _start_server(self) -> None:
        last_error: Exception | None = None
        for _ in range(3):  # another process may grab the free port before we bind it
            self.port = self.port or free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    f"-k {self._tmp}",
                    "-c listen_addresses=127.0.0.1",
                    *(f"-c {s}" for s in FAST_SETTINGS),
                ]
            )
            if self.ssl_files is not None:
                # paths relative to the data folder
                options += " -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    "data",
                    "-l",
                    "server.log",
                    "-o",
                    options,
                    "-w",
                    "-t",
                    str(START_TIMEOUT_SECONDS),
                    "start",
                )
                return
            except RuntimeError as exc:
                last_error, self.port = exc, 0
        raise RuntimeError(f"PostgreSQL did not start: {last_error}")

    def _admin(self):
        import psycopg2

        conn = psycopg2.connect(host=str(self._tmp), port=self.port, dbname="postgres", user=SYSTEM_USER)
        conn.autocommit = True
        return conn

    def _create_role_and_database(self) -> None:
        from psycopg2 import sql

        conn = self._admin()
        try:
            # No ``with conn``: psycopg2 opens a transaction there, and CREATE DATABASE refuses one.
            with conn.cursor() as cur:
                cur.execute("SET password_encryption = 'scram-sha-256'")
                cur.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(self.user), sql.Literal(self.password)
                    )
                )
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(self.database), sql.Identifier(self.user)
                    )
                )
        finally:
            conn.close()

    def create_database(self, name: str) -> str:
        """Create database ``name`` owned by the login role (one server, one database per service,
        as ``docker/postgres/init-databases.sh`` does); returns the name."""
        from psycopg2 import sql

        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(self.user))
                )
        finally:
            conn.close()
        return name

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder; safe to call twice."""
        if self._tmp is None:
            return
        pid_file = self._tmp / "data" / "postmaster.pid"
        if pid_file.exists():
            try:
                self._run("pg_ctl", "-D", "data", "-m", "fast", "-w", "-t", "30", "stop")
            except RuntimeError:
                self._kill(pid_file)
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None

    @staticmethod
    def _kill(pid_file: Path) -> None:
        # Last resort: the postmaster we started, by the pid it recorded.
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)
            time.sleep(1)
        except (OSError, ValueError, IndexError):
            pass

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
