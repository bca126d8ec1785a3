"""Long-running service processes for tests and local integration runs: start, wait, log, stop.

A :class:`Service` is one command (a Spark master, ``mlflow server``, ``airflow scheduler``...)
started in its own session with stdout and stderr in ``<log_dir>/<name>.log``. ``stop()``
terminates the process and every process it started (Airflow's task processes, the Spark
executors of a worker), by their ids, then kills what is left; it is safe to call twice and
after a failed start, so a fixture can always call it in its ``finally``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 30


class ServiceError(RuntimeError):
    """A service exited or did not become ready; the message ends with its log tail."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller binds it soon after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a text file ('' when it does not exist)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Service:
    """One service process with its log file.

    Args:
        name: short name; the log is ``<log_dir>/<name>.log``.
        command: argv of the service.
        log_dir: folder of the log (created).
        env: the complete environment of the process.
        cwd: working directory (default ``log_dir``).
    """

    def __init__(
        self, name: str, command: Sequence[str], *, log_dir: Path, env: Mapping[str, str], cwd: Path | None = None
    ) -> None:
        self.name = name
        self.command = [str(part) for part in command]
        self.log_dir = Path(log_dir)
        self.log_path = self.log_dir / f"{name}.log"
        self.env = dict(env)
        self.cwd = Path(cwd) if cwd else self.log_dir
        self.process: subprocess.Popen | None = None

    def start(self) -> Service:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # A session of its own: stop() can reach every process the service starts.
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd, start_new_session=True
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def failure(self, message: str) -> ServiceError:
        return ServiceError(f"{self.name}: {message}\n--- {self.log_path} (last lines) ---\n{self.log_tail()}")

    def wait_until(self, ready: Callable[[], T], *, timeout: float, what: str) -> T:
        """Poll ``ready()`` until it returns a truthy value (returned), the process exits or time is up.

        Exceptions raised by ``ready`` count as "not yet" (a server still binding its port).

        Raises:
            ServiceError: when the process exits or ``timeout`` seconds pass, with the log tail.
        """
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            if not self.running:
                code = self.process.returncode if self.process else None
                raise self.failure(f"exited with code {code} while waiting for {what}")
            try:
                value = ready()
                if value:
                    return value
            except Exception as error:  # noqa: BLE001 - any error means "not ready yet"
                last_error = error
            if time.monotonic() > deadline:
                detail = f" (last error: {last_error})" if last_error else ""
                raise self.failure(f"not ready after {timeout:.0f} s: {what}{detail}")
            time.sleep(POLL_SECONDS)

    def wait_for_port(self, port: int, *, timeout: float = 60) -> None:
        self.wait_until(lambda: port_open(port), timeout=timeout, what=f"port {port}")

    def _descendants(self) -> list:
        import psutil

        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return []

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """SIGTERM to the service and its descendants, SIGKILL to whatever is left after ``timeout``."""
        import psutil

        if self.process is None:
            return
        children = self._descendants()
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
        for child in children:
            try:
                child.terminate()
            except psutil.Error:
                pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.process.wait(timeout=10)
        _gone, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            try:
                child.kill()
            except psutil.Error:
                pass
        self._signal_group(signal.SIGKILL)  # stragglers of the session, if any
        self.process = None

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_all(services: Sequence[Service | None]) -> None:
    """Stop services in reverse start order; an error stopping one does not spare the others."""
    errors = []
    for service in reversed([s for s in services if s is not None]):
        try:
            service.stop()
        except Exception as error:  # noqa: BLE001 - stop the rest, report at the end
            errors.append(f"{service.name}: {error}")
    if errors:
        raise ServiceError("could not stop: " + "; ".join(errors))
