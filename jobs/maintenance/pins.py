"""Pinned Delta versions: table versions that a registered model or a scored snapshot still needs.

A model version is tagged with the Delta version of the table (and label table) it was trained on
(``data.version``; ``models.train.data_tags``): reproducing or validating it reads exactly that
version. A row of ``risk_scores`` records the version of ``enterprise_features`` it was scored from
(``features_version``): the scored snapshot's partition of that version reproduces its scores. The
maintenance keeps every file these versions read: compaction leaves their partitions alone and
VACUUM refuses, naming the pin, rather than delete one (:mod:`jobs.maintenance.main`).

A pin goes away with what holds it: a deleted model version, a snapshot scored again (its rows then
name the new features version).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import SparkSession

from riskpipe.core import io
from riskpipe.core.config import Settings
from schemas.registry import all_tables

log = logging.getLogger(__name__)

SCORES, FEATURES = "risk_scores", "enterprise_features"


@dataclass(frozen=True, order=True)
class Pin:
    """A Delta version of ``table`` that ``owner`` needs.

    Attributes:
        table: declared table name.
        version: the Delta version.
        owner: what holds it, e.g. ``model sme_pd version 3 (@champion)``.
        partition: ``(column, value)`` when only that partition of the version is needed.
    """

    table: str
    version: int
    owner: str
    partition: tuple[str, str] | None = None

    def describe(self) -> str:
        part = f" (partition {self.partition[0]}={self.partition[1]})" if self.partition else ""
        return f"{self.owner} pins {self.table} version {self.version}{part}"


def model_pins(settings: Settings) -> list[Pin]:
    """The training data of every registered version of ``settings``' model (its MLflow registry).

    Raises:
        Exception: the tracking store cannot be read; the pins are then unknown.
    """
    from models.config import model_config
    from models.registry import data_pins

    config = model_config(settings)
    declared = {spec.name for spec in all_tables()}
    pins = []
    for found in data_pins(config):
        if found["table"] not in declared:
            # a model trained on a path outside the lakehouse's declared tables: nothing here to keep
            log.info("model %s version %s: %s is not a declared table", config.name, found["version"], found["table"])
            continue
        aliases = "".join(f" @{alias}" for alias in found["aliases"])
        owner = f"model {config.name} version {found['version']}{aliases}"
        pins.append(Pin(found["table"], found["table_version"], owner))
    return pins


def snapshot_pins(spark: SparkSession, settings: Settings) -> list[Pin]:
    """The ``enterprise_features`` version and partition each scored snapshot of ``risk_scores`` was read at."""
    if not io.exists(spark, SCORES, settings=settings):
        return []
    rows = (
        io.read(spark, SCORES, settings=settings)
        .select("snapshot_date", "snapshot_month", "features_version")
        .distinct()
        .collect()
    )
    return sorted(
        Pin(
            FEATURES,
            int(row["features_version"]),
            f"scored snapshot {row['snapshot_date']} ({SCORES})",
            ("snapshot_month", str(row["snapshot_month"])),
        )
        for row in rows
    )


def all_pins(spark: SparkSession, settings: Settings) -> list[Pin]:
    """Every pin: the registered models' training data, then the scored snapshots' features."""
    return model_pins(settings) + snapshot_pins(spark, settings)


def files_needed(
    spark: SparkSession, pin: Pin, settings: Settings, *, known: dict[tuple[str, int], set[str]] | None = None
) -> set[str]:
    """The data files (relative to the table folder) that reading the pinned version needs.

    Args:
        known: files of the versions already listed, by ``(table, version)``; filled in (scored
            snapshots share a few features versions).

    Raises:
        Exception: the version can no longer be read (its commits left the log).
    """
    known = {} if known is None else known
    key = (pin.table, pin.version)
    if key not in known:
        known[key] = io.data_files(spark, pin.table, version=pin.version, settings=settings)
    files = known[key]
    if pin.partition is None:
        return files
    prefix = f"{pin.partition[0]}={pin.partition[1]}/"
    return {f for f in files if f.startswith(prefix)}


def needed_by(spark: SparkSession, pins: Iterable[Pin], settings: Settings) -> tuple[dict[str, list[Pin]], list[str]]:
    """``(file -> the pins that need it, problems)`` for ``pins``.

    A pin whose version can no longer be read is a problem (named in the list), not an error:
    nothing the maintenance does can make it readable again or worse.
    """
    files: dict[str, list[Pin]] = {}
    problems = []
    known: dict[tuple[str, int], set[str]] = {}
    for pin in pins:
        try:
            needed = files_needed(spark, pin, settings, known=known)
        except Exception as error:  # noqa: BLE001 - reported, the other pins still protect their files
            problems.append(f"{pin.describe()}, which can no longer be read: {str(error).splitlines()[0][:300]}")
            continue
        for name in needed:
            files.setdefault(name, []).append(pin)
    return files, problems
