"""The four maintenance steps, each over the declared tables that exist (or the ones named).

* :func:`apply_retention`: the layer's ``delta.logRetentionDuration`` and
  ``delta.deletedFileRetentionDuration`` (and the table's own declared properties) on existing
  tables; new tables get them at creation (``riskpipe.core.io.ensure_table``).
* :func:`ensure_constraints`: a CHECK constraint on every gold table for each value rule of its
  columns (``expectations.rules.constraint_rules``); an unchanged one is left, a changed one replaced.
* :func:`compact`: OPTIMIZE of the partitions written since the table's last OPTIMIZE, Z-ordered by
  the table's ``zorder_by`` (else bin-packing), leaving the partitions whose files a pin needs.
* :func:`vacuum`: VACUUM with each table's deleted-file retention, refused for a table where it
  would delete a file a pinned version needs; the refusal names the pin.

A step that cannot do its work on a table records why and goes on with the others; it raises
:class:`MaintenanceRefusedError` at the end, naming every table it refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import SparkSession

from expectations.rules import Rule, constraint_rules
from jobs.maintenance.pins import Pin, all_pins, needed_by
from riskpipe.core import io
from riskpipe.core.config import Settings
from schemas.registry import TableSpec, all_tables, get

log = logging.getLogger(__name__)

# CHECK constraints the maintenance manages start with this; others (added by hand) are left alone
CONSTRAINT_PREFIX = "rule_"
CONSTRAINED_LAYERS = ("gold",)


class MaintenanceRefusedError(RuntimeError):
    """A maintenance step refused to change some tables; the message names each and why.

    Retrying does not help: a pin, or rows that break a declared rule, have to be dealt with first.
    """


def _tables(names: Sequence[str] = (), layers: Sequence[str] | None = None) -> list[TableSpec]:
    specs = [get(name) for name in names] if names else all_tables()
    return [spec for spec in specs if layers is None or spec.layer in layers]


def _existing(spark: SparkSession, specs: list[TableSpec], settings: Settings) -> list[TableSpec]:
    return [spec for spec in specs if io.exists(spark, spec, settings=settings)]


def _refuse(step: str, refusals: Mapping[str, str]) -> None:
    if refusals:
        lines = "\n  ".join(f"{table}: {why}" for table, why in refusals.items())
        raise MaintenanceRefusedError(f"{step} refused for {len(refusals)} table(s):\n  {lines}")


# Retention ------------------------------------------------------------------------------------


def apply_retention(spark: SparkSession, *, settings: Settings, tables: Sequence[str] = ()) -> dict[str, Any]:
    """Set the declared properties (the layer's retention, then the table's own) where they differ.

    Returns:
        ``{"changed": {table: {property: value}}, "tables": n}``.
    """
    changed = {}
    specs = _existing(spark, _tables(tables), settings)
    for spec in specs:
        done = io.set_properties(spark, spec, io.declared_properties(spec, settings=settings), settings=settings)
        if done:
            log.info("%s: set %s", spec.name, done)
            changed[spec.name] = done
    return {"tables": len(specs), "changed": changed}


# CHECK constraints ----------------------------------------------------------------------------


def constraint_name(rule: Rule) -> str:
    """``rule_<column>_<check>`` of the rule ``<table>.<column>.<check>``."""
    return CONSTRAINT_PREFIX + rule.name.split(".", 1)[1].replace(".", "_").lower()


def same_condition(left: str, right: str) -> bool:
    """Whether two SQL conditions are the same text but for whitespace outside string literals.

    Delta stores a constraint's condition re-spaced token by token (``substr ( uscc , 18 , 1 )``).
    """

    def canonical(text: str) -> str:
        out, quote = [], None
        for char in text:
            if quote:
                out.append(char)
                quote = None if char == quote else quote
            elif char in "'\"`":
                out.append(char)
                quote = char
            elif not char.isspace():
                out.append(char)
        return "".join(out)

    return canonical(left) == canonical(right)


def declared_constraints(table: str) -> dict[str, str]:
    """The CHECK constraints ``table`` should have: name -> Spark SQL condition."""
    return {constraint_name(rule): rule.condition for rule in constraint_rules(table)}


def ensure_constraints(spark: SparkSession, *, settings: Settings, tables: Sequence[str] = ()) -> dict[str, Any]:
    """Give every existing gold table (of ``tables``) exactly its declared CHECK constraints.

    An existing constraint with the same condition is left as it is; one with another condition is
    dropped and added again with the declared one; a managed one no rule declares any more is dropped.
    Adding a constraint makes Delta check every row already in the table; a table with rows that
    break it is refused (Delta's message counts them) and keeps its previous constraint.

    Raises:
        MaintenanceRefusedError: after every table was tried, naming the tables refused and why.
    """
    summary: dict[str, dict[str, list[str]]] = {}
    refusals = {}
    for spec in _existing(spark, _tables(tables, CONSTRAINED_LAYERS), settings):
        try:
            summary[spec.name] = _ensure_table_constraints(spark, spec, settings)
        except Exception as error:  # noqa: BLE001 - reported with the others at the end
            refusals[spec.name] = str(error).strip()[:2000]
    _refuse("CHECK constraints", refusals)
    return {"tables": summary}


def _ensure_table_constraints(spark: SparkSession, spec: TableSpec, settings: Settings) -> dict[str, list[str]]:
    current = io.check_constraints(spark, spec, settings=settings)
    declared = declared_constraints(spec.name)
    result: dict[str, list[str]] = {"added": [], "replaced": [], "dropped": [], "kept": []}
    for name in sorted(set(current) - set(declared)):
        if name.startswith(CONSTRAINT_PREFIX):
            io.drop_check_constraint(spark, spec, name, settings=settings)
            result["dropped"].append(name)
    refused = []
    for name, condition in declared.items():
        before = current.get(name)
        if before is not None and same_condition(before, condition):
            result["kept"].append(name)
            continue
        if before is not None:
            io.drop_check_constraint(spark, spec, name, settings=settings)
        try:
            io.add_check_constraint(spark, spec, name, condition, settings=settings)
        except Exception as error:  # noqa: BLE001 - the table's other rules still get their constraints
            if before is not None:  # the rows broke the new condition: keep the old one in force
                io.add_check_constraint(spark, spec, name, before, settings=settings)
            refused.append(f"{name}: {str(error).strip().splitlines()[0][:300]}")
            continue
        result["replaced" if before is not None else "added"].append(name)
    if refused:
        raise MaintenanceRefusedError("; ".join(refused))
    return result


# Compaction -----------------------------------------------------------------------------------


def _partition_of(path: str, column: str) -> str | None:
    first = path.split("/", 1)[0]
    return first[len(column) + 1 :] if first.startswith(f"{column}=") else None


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def compact_table(
    spark: SparkSession, spec: TableSpec, *, settings: Settings, pinned: Mapping[str, list[Pin]]
) -> dict[str, Any]:
    """OPTIMIZE the partitions of ``spec`` written since its last OPTIMIZE, except those a pin needs.

    Delta's Z-order rewrites every file of the partitions it is given, so each run rewrites only
    what changed; a table never optimized is done whole once. A partition holding a file a pin
    needs is left as it is: rewriting it would make the pinned version depend on files VACUUM is
    then free to delete.

    Returns:
        What was done: files before and after, the partitions optimized and those held by pins.
    """
    current = io.version(spark, spec, settings=settings)
    last = io.last_version_of(spark, spec, "OPTIMIZE", settings=settings)
    files = io.data_files(spark, spec, settings=settings)
    result: dict[str, Any] = {"table": spec.name, "version": current, "files_before": len(files)}
    if last == current:
        return {**result, "skipped": "nothing committed since the last OPTIMIZE"}
    held_by = {pin.describe() for name in files for pin in pinned.get(name, [])}
    where = None
    if spec.partition_by:
        column = spec.partition_by[0]
        present = {p for p in (_partition_of(f, column) for f in files) if p is not None}
        chosen = present
        if last is not None:
            try:
                chosen = io.changed_partitions(spark, spec, since=last, until=current, column=column, settings=settings)
            except Exception as error:  # noqa: BLE001 - the last OPTIMIZE's version left the log: do all
                log.info("%s: changes since version %s unknown (%s): all partitions", spec.name, last, error)
        held = {_partition_of(f, column) for f in files if f in pinned}
        result["partitions_held_by_pins"] = sorted(p for p in chosen & present if p in held)
        chosen = (chosen & present) - held
        if not chosen:
            return {**result, "skipped": "no changed partition free of pins", "pins": sorted(held_by)}
        where = f"`{column}` IN ({', '.join(_literal(p) for p in sorted(chosen))})"
        result["partitions"] = len(chosen)
    elif held_by:
        return {**result, "skipped": "its files are pinned", "pins": sorted(held_by)}
    metrics = io.optimize(
        spark,
        spec,
        where=where,
        zorder_by=spec.zorder_by,
        max_file_bytes=settings.maintenance.optimize.max_file_bytes,
        settings=settings,
    )
    after = io.data_files(spark, spec, settings=settings)
    return {
        **result,
        "zorder_by": list(spec.zorder_by),
        "files_after": len(after),
        "files_added": metrics.get("numFilesAdded"),
        "files_removed": metrics.get("numFilesRemoved"),
        "new_version": io.version(spark, spec, settings=settings),
    }


def compact(spark: SparkSession, *, settings: Settings, tables: Sequence[str] = ()) -> dict[str, Any]:
    """:func:`compact_table` for every existing table (of ``tables``)."""
    specs = _existing(spark, _tables(tables), settings)
    pins = all_pins(spark, settings)
    pinned, problems = needed_by(spark, [p for p in pins if p.table in {s.name for s in specs}], settings)
    for problem in problems:
        log.warning("%s", problem)
    results = [compact_table(spark, spec, settings=settings, pinned=pinned) for spec in specs]
    for result in results:
        log.info("compaction %s", result)
    return {"tables": results, "pin_problems": problems}


# VACUUM ---------------------------------------------------------------------------------------


class VacuumRefusedError(MaintenanceRefusedError):
    """VACUUM would delete files that a pinned version needs."""


def vacuum_table(
    spark: SparkSession,
    spec: TableSpec,
    *,
    settings: Settings,
    pins: Sequence[Pin],
    retain_hours: float | None = None,
) -> dict[str, Any]:
    """VACUUM ``spec`` unless that deletes a file one of ``pins`` needs.

    Delta's dry run lists exactly what the VACUUM would delete (the same retention, the same
    rules); it is compared with the files of every pinned version of the table.

    Args:
        retain_hours: None: the table's ``delta.deletedFileRetentionDuration``.

    Raises:
        VacuumRefusedError: naming each pin (owner, table, version) and how many of its files
            the VACUUM would delete; nothing is deleted then.
    """
    doomed = io.vacuum_dry_run(spark, spec, retain_hours=retain_hours, settings=settings)
    needed, problems = needed_by(spark, [p for p in pins if p.table == spec.name], settings)
    broken: dict[Pin, list[str]] = {}
    for name in sorted(doomed & set(needed)):
        for pin in needed[name]:
            broken.setdefault(pin, []).append(name)
    if broken:
        retention = "the table's deleted-file retention" if retain_hours is None else f"{retain_hours:g} h"
        reasons = "; ".join(
            f"{pin.describe()}: {len(files)} of its files would be deleted (e.g. {files[0]})"
            for pin, files in sorted(broken.items(), key=lambda item: item[0].describe())
        )
        raise VacuumRefusedError(f"VACUUM of {spec.name} with {retention} refused: {reasons}")
    if doomed:
        io.vacuum(spark, spec, retain_hours=retain_hours, settings=settings)
    return {"table": spec.name, "files_deleted": len(doomed), "pins_checked": len(needed), "pin_problems": problems}


def vacuum(spark: SparkSession, *, settings: Settings, tables: Sequence[str] = ()) -> dict[str, Any]:
    """:func:`vacuum_table` for every existing table (of ``tables``), with each table's retention.

    Raises:
        VacuumRefusedError: after every table was tried, naming each refused table and its pins.
        Exception: the pins cannot be read (the MLflow store is down): nothing is vacuumed.
    """
    pins = all_pins(spark, settings)
    results, refusals = [], {}
    for spec in _existing(spark, _tables(tables), settings):
        try:
            results.append(vacuum_table(spark, spec, settings=settings, pins=pins))
        except VacuumRefusedError as error:
            refusals[spec.name] = str(error)
    if refusals:
        listed = "\n  ".join(refusals.values())
        raise VacuumRefusedError(f"VACUUM refused for {len(refusals)} table(s) (the others were vacuumed):\n  {listed}")
    return {"tables": results, "pins": len(pins)}
