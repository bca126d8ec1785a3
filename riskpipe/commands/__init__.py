"""Subcommands of the riskpipe CLI.

A command is an entry point: it loads the settings (profile and environment) once, starts the
Spark session it needs from them, and passes both down to the jobs it calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from riskpipe.core.config import Settings


def session(app_name: str) -> tuple[Settings, SparkSession]:
    """The settings and the Spark session (named ``app_name``) that a command passes to the jobs."""
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import get_spark

    settings = load_settings()
    return settings, get_spark(settings, app_name=app_name)
