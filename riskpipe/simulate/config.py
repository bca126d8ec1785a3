"""Simulator configuration: sizes, seed, sources and dirty-data rates.

A configuration is a :class:`SimConfig`. Dirty-data rates and model parameters can be
overridden from a YAML file::

    clean: false            # true sets every dirty-data rate to 0
    dirty:
      duplicate: 0.01
      truncated_file: 0.02
    model:
      distress_intercept: -5.2

Sizes (enterprises, months, start, seed) are normally given on the command line, but may
also appear at the top level of the YAML file.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from riskpipe.simulate.params import ModelParams

ALL_SOURCES = ("tax", "utility", "court", "bank", "loans")
DEFAULT_START = "2019-01"
DEFAULT_MONTHS = 36
DEFAULT_ENTERPRISES = 10_000
DEFAULT_SEED = 20190101


@dataclass
class DirtyRates:
    """Per-row (or per-file for ``truncated_file``) probabilities of each defect type.

    Attributes:
        duplicate: An exact copy of the row is delivered in the same file.
        late: The row is delivered one to three files later than it should be.
        restatement: A tax filing is amended (an ``is_amendment`` row filed later).
        missing_month: The row is never delivered (a gap in the feed).
        malformed_uscc: The USCC has a wrong check digit, wrong length or a
            forbidden letter (I, O, Z, S, V).
        unit_mix: An electricity read of a kWh feed is delivered in MWh (unit "MWh").
        negative_amount: A monetary amount or consumption has its sign flipped.
        absurd_amount: An amount is replaced by something around 1e13.
        future_date: The period/date lies after the delivery date.
        fullwidth: A name or USCC is delivered in full-width characters.
        truncated_file: A whole file is cut mid-row (and re-delivered in full later
            under a ``_redelivery`` name).
    """

    duplicate: float = 0.003
    late: float = 0.004
    restatement: float = 0.01
    missing_month: float = 0.003
    malformed_uscc: float = 0.002
    unit_mix: float = 0.01
    negative_amount: float = 0.001
    absurd_amount: float = 0.0003
    future_date: float = 0.001
    fullwidth: float = 0.005
    truncated_file: float = 0.0

    def scaled(self, factor: float) -> DirtyRates:
        """Return a copy with every rate multiplied by ``factor``."""
        return DirtyRates(**{k: v * factor for k, v in dataclasses.asdict(self).items()})


@dataclass
class SimConfig:
    """Full simulator configuration.

    Attributes:
        enterprises: Number of enterprises in the registry.
        months: Length of the simulated window in months.
        start: First month of the window, ``YYYY-MM``.
        seed: Seed of every random stream; same seed, same bytes.
        sources: Sources to write (registry, truth and manifest are always written).
        quiet: Disable progress bars.
        dirty: Dirty-data rates.
        model: Generative-model parameters.
    """

    enterprises: int = DEFAULT_ENTERPRISES
    months: int = DEFAULT_MONTHS
    start: str = DEFAULT_START
    seed: int = DEFAULT_SEED
    sources: tuple[str, ...] = ALL_SOURCES
    quiet: bool = False
    dirty: DirtyRates = field(default_factory=DirtyRates)
    model: ModelParams = field(default_factory=ModelParams)

    def __post_init__(self) -> None:
        unknown = set(self.sources) - set(ALL_SOURCES)
        if unknown:
            raise ValueError(f"unknown sources {sorted(unknown)}; choose from {ALL_SOURCES}")
        self.sources = tuple(s for s in ALL_SOURCES if s in self.sources)
        if self.enterprises < 1 or self.months < 1:
            raise ValueError("enterprises and months must be positive")

    def with_clean(self) -> SimConfig:
        """Return a copy with every dirty-data rate set to zero."""
        return dataclasses.replace(self, dirty=self.dirty.scaled(0.0))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (written to ``manifest/summary.json``)."""
        out = dataclasses.asdict(self)
        out["sources"] = list(self.sources)
        return out

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> SimConfig:
        """Build a configuration from a YAML file plus keyword overrides.

        Args:
            path: YAML file (see module docstring for the format).
            **overrides: Top-level fields that win over the file (``None`` is ignored).

        Returns:
            The configuration.

        Raises:
            ValueError: On unknown keys.
        """
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return cls.from_mapping(raw, **overrides)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], **overrides: Any) -> SimConfig:
        """Build a configuration from a mapping shaped like the YAML file."""
        raw = dict(raw)
        clean = bool(raw.pop("clean", False))
        dirty = _build(DirtyRates, raw.pop("dirty", None) or {})
        model = _build(ModelParams, raw.pop("model", None) or {})
        top = {f.name for f in dataclasses.fields(cls)} - {"dirty", "model"}
        unknown = set(raw) - top
        if unknown:
            raise ValueError(f"unknown configuration keys: {sorted(unknown)}")
        raw.update({k: v for k, v in overrides.items() if v is not None})
        if "sources" in raw:
            raw["sources"] = tuple(raw["sources"])
        cfg = cls(dirty=dirty, model=model, **raw)
        return cfg.with_clean() if clean else cfg


def _build(klass: type, values: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(klass)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {klass.__name__} keys: {sorted(unknown)}")
    return klass(**values)


def stream(seed: int, name: str, *index: int) -> np.random.Generator:
    """Independent, reproducible random stream for a named component (and file index).

    Streams are keyed by name so that writing a subset of sources leaves the others'
    bytes unchanged.

    Args:
        seed: Simulation seed.
        name: Component name, e.g. ``"tax"``.
        *index: Extra integers (e.g. file index).

    Returns:
        A numpy Generator.
    """
    key = (zlib.crc32(name.encode("utf-8")),) + tuple(int(i) for i in index)
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))
