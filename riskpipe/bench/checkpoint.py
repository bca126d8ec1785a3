"""Resumable benchmark runs: what one size has done so far, kept in ``<work>/n<size>/checkpoint.json``.

A large size (100,000 enterprises × 36 months: about 290M input rows) takes longer than one
sitting at the machine. ``riskpipe bench --pause-after MINUTES`` stops taking new work once the
budget is spent (the stage or ingestion batch under way finishes first), and ``--resume``
carries on from the checkpoint: finished stages and ingestion batches are not run again, their
times and peak memory are kept, and the new part's are added. Every part starts its own Spark
session, so a resumed run's stage times are sums of the parts without the session starts.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from riskpipe.bench.memory import measured

CHECKPOINT = "checkpoint.json"


class Paused(Exception):
    """The time budget ran out before the run of a size was finished; rerun with ``--resume``."""


def _commit() -> str:
    """The short git commit of the code this part runs (``unknown`` outside a git checkout)."""
    repo = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (out.stdout.strip() or "unknown") + ("+changes" if dirty else "")


class Checkpoint:
    """The finished stages, ingestion batches and values of one size's run, saved after each.

    Args:
        root: the size's working folder.
        enterprises / months: the size (a checkpoint of another size is an error).
        deadline: ``time.monotonic()`` after which no new stage or batch starts (None: no budget).
    """

    def __init__(self, root: Path, enterprises: int, months: int, *, deadline: float | None = None) -> None:
        self.path = root / CHECKPOINT
        self.deadline = deadline
        self.data: dict[str, Any] = {
            "enterprises": enterprises,
            "months": months,
            "stages": {},
            "values": {},
            "batches": [],
            "parts": [],
        }
        if self.path.exists():
            saved = json.loads(self.path.read_text())
            if (saved.get("enterprises"), saved.get("months")) != (enterprises, months):
                raise SystemExit(
                    f"{self.path} is a run of {saved.get('enterprises')} × {saved.get('months')}, "
                    f"not {enterprises} × {months}"
                )
            self.data.update(saved)
        self.data["parts"].append(
            {"started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "commit": _commit(), "ran": []}
        )

    @property
    def stages(self) -> dict[str, Any]:
        return self.data["stages"]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        tmp.replace(self.path)  # never a half-written checkpoint

    def check_time(self, what: str) -> None:
        """Raise :class:`Paused` (after saving) when the budget is spent, before ``what`` starts."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.save()
            raise Paused(f"time budget spent before {what}; rerun with --resume to continue")

    def _ran(self, what: str) -> None:
        self.data["parts"][-1]["ran"].append(what)

    def stage(self, name: str, func: Callable[[], Any], *, log: Callable[[str], None]) -> Any:
        """Run and time ``func`` as stage ``name`` unless an earlier part did; returns its (JSON) value."""
        if name in self.stages:
            log(f"stage {name}: done in an earlier part ({self.stages[name]['seconds']:.1f} s)")
            return self.data["values"].get(name)
        self.check_time(f"stage {name}")
        log(f"stage {name} ...")
        record: dict[str, Any] = {}
        with measured(record):
            value = func()
        self.stages[name] = record
        self.data["values"][name] = value
        self._ran(name)
        self.save()
        log(f"stage {name}: {record['seconds']:.1f} s, peak RSS {record['peak_rss_mb']:.0f} MB")
        return value

    def value(self, name: str, func: Callable[[], Any]) -> Any:
        """``func()`` computed once over all parts (a measurement that is not a timed stage)."""
        if name not in self.data["values"]:
            self.check_time(name)
            self.data["values"][name] = func()
            self._ran(name)
            self.save()
        return self.data["values"][name]

    def batch_done(self, key: str) -> bool:
        return any(b["key"] == key for b in self.data["batches"])

    def add_batch(self, record: dict[str, Any]) -> None:
        self.data["batches"].append(record)
        self._ran(record["key"])
        self.save()
