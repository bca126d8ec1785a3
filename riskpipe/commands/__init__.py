"""Subcommands of the riskpipe CLI.

A command is an entry point: it loads the settings (profile and environment) once, starts the
Spark session it needs from them, and passes both down to the jobs it calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from riskpipe.core.config import Settings

T = TypeVar("T")


def session(app_name: str) -> tuple[Settings, SparkSession]:
    """The settings and the Spark session (named ``app_name``) that a command passes to the jobs."""
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import get_spark

    settings = load_settings()
    return settings, get_spark(settings=settings, app_name=app_name)


def progress(desc: str, unit: str) -> Callable[[Sequence[T]], Iterable[T]]:
    """A wrapper that iterates a list behind a ``tqdm`` bar on standard error (none when it is not a
    terminal: logs keep the printed lines only)."""
    from tqdm import tqdm

    def wrap(items: Sequence[T]) -> Iterable[T]:
        return tqdm(items, desc=desc, unit=unit, total=len(items), disable=None, leave=False, dynamic_ncols=True)

    return wrap


def say(line: str) -> None:
    """Print ``line`` to standard output without breaking a ``tqdm`` bar that is showing."""
    from tqdm import tqdm

    tqdm.write(line)
