"""Stress scenarios: named shocks on feature columns, loaded from YAML and applied to a features frame.

A scenario is a list of shocks; each shock names catalogue features (numeric only) and one
operation (``scale``, ``add``, ``growth_scale`` or ``set``), optionally clipped by ``min`` /
``max``. Missing values stay missing and integer features are rounded back to integers, so a
shocked frame has exactly the schema of the input. Format: conf/stress_scenarios.yaml.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from schemas.feature_catalogue import FEATURES

OPERATIONS = ("scale", "add", "growth_scale", "set")
BASELINE = "zero_shock"
_DTYPES = {f.name: f.dtype for f in FEATURES}
_NUMERIC = ("double", "int")


@dataclass(frozen=True)
class Shock:
    """One operation ``op`` with parameter ``value`` on ``features``, clipped to [``lower``, ``upper``]."""

    features: tuple[str, ...]
    op: str
    value: float
    lower: float | None = None
    upper: float | None = None

    def apply(self, x: Column) -> Column:
        """The shocked value of ``x`` (null stays null)."""
        k = F.lit(self.value)
        out = {"scale": x * k, "add": x + k, "growth_scale": (x + 1.0) * k - 1.0, "set": k}[self.op]
        if self.lower is not None:
            out = F.greatest(out, F.lit(self.lower))
        if self.upper is not None:
            out = F.least(out, F.lit(self.upper))
        return F.when(x.isNotNull(), out)


@dataclass(frozen=True)
class Scenario:
    """A named list of shocks, applied in order."""

    name: str
    description: str
    shocks: tuple[Shock, ...] = ()

    def version(self) -> str:
        """Short hash of the shocks (recorded with the results)."""
        text = json.dumps([vars(s) for s in self.shocks], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _shock(raw: Mapping[str, Any], where: str) -> Shock:
    ops = [op for op in OPERATIONS if op in raw]
    unknown = sorted(set(raw) - {*OPERATIONS, "features", "min", "max"})
    if len(ops) != 1 or unknown:
        raise ValueError(f"{where}: needs exactly one of {OPERATIONS} and only features/min/max; got {dict(raw)}")
    features = raw.get("features") or []
    features = [features] if isinstance(features, str) else list(features)
    bad = [f for f in features if _DTYPES.get(f) not in _NUMERIC]
    if bad or not features:
        raise ValueError(
            f"{where}: features {bad or features} are not numeric catalogue features (schemas/feature_catalogue.py)"
        )
    try:
        value = float(raw[ops[0]])
        lower = None if raw.get("min") is None else float(raw["min"])
        upper = None if raw.get("max") is None else float(raw["max"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {ops[0]}/min/max must be numbers; got {dict(raw)}") from None
    return Shock(tuple(features), ops[0], value, lower, upper)


def parse_scenarios(data: Mapping[str, Any], *, source: str = "scenarios") -> dict[str, Scenario]:
    """Validate a ``{"scenarios": {name: {description, shocks}}}`` mapping.

    Raises:
        ValueError: naming the scenario and shock of any invalid entry, or when the baseline
            :data:`BASELINE` is missing or shocks anything.
    """
    entries = (data or {}).get("scenarios") or {}
    scenarios = {}
    for name, entry in entries.items():
        entry = entry or {}
        shocks = tuple(
            _shock(s, f"{source}: scenario {name!r} shock {i}") for i, s in enumerate(entry.get("shocks") or ())
        )
        scenarios[str(name)] = Scenario(str(name), str(entry.get("description", name)), shocks)
    if BASELINE not in scenarios or scenarios[BASELINE].shocks:
        raise ValueError(f"{source}: a scenario {BASELINE!r} with no shocks is required (the baseline)")
    return scenarios


def load_scenarios(path: str | Path) -> dict[str, Scenario]:
    """Read and validate the scenarios file (conf/stress_scenarios.yaml)."""
    with Path(path).open(encoding="utf-8") as handle:
        return parse_scenarios(yaml.safe_load(handle) or {}, source=str(path))


def absent_features(features: DataFrame, scenario: Scenario) -> list[str]:
    """Features ``scenario`` shocks that are not columns of ``features`` (built by an older catalogue)."""
    return sorted({f for s in scenario.shocks for f in s.features} - set(features.columns))


def apply_scenario(features: DataFrame, scenario: Scenario) -> DataFrame:
    """Shock the feature columns of ``features`` (pure; every other column unchanged).

    A shocked catalogue feature that is not a column of ``features`` (a snapshot built before the
    feature was added to the catalogue, see :func:`absent_features`) is left out: no model scoring
    that snapshot can use it either.

    Args:
        features: ``enterprise_features`` rows (any columns).
        scenario: the scenario.

    Returns:
        ``features`` with the same columns, order and types; shocked columns replaced.
    """
    if not scenario.shocks:
        return features
    columns = {c: F.col(c) for c in features.columns}
    for shock in scenario.shocks:
        for name in (f for f in shock.features if f in columns):
            value = shock.apply(columns[name].cast("double"))
            columns[name] = F.round(value).cast("int") if _DTYPES[name] == "int" else value
    # keep each column's metadata (descriptions) so the shocked frame has the input's exact schema
    return features.select(
        *[column.alias(name, metadata=features.schema[name].metadata) for name, column in columns.items()]
    )
