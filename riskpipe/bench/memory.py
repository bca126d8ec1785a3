"""Peak resident memory of this process and its children (the JVM included), sampled in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil


def tree_rss() -> int:
    """Resident set size in bytes of this process plus all its descendants."""
    me = psutil.Process()
    total = 0
    for proc in [me, *me.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


class PeakSampler:
    """Samples ``tree_rss`` every ``interval`` seconds in a daemon thread and keeps the peak."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss())
            self._stop.wait(self.interval)

    def start(self) -> PeakSampler:
        self.peak = tree_rss()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop sampling; returns the peak in bytes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak = max(self.peak, tree_rss())
        return self.peak


@contextmanager
def measured(result: dict) -> Iterator[dict]:
    """Time a block and sample its peak memory into ``result`` (``seconds``, ``peak_rss_mb``)."""
    sampler = PeakSampler().start()
    began = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - began
        result["peak_rss_mb"] = sampler.stop() / 2**20
