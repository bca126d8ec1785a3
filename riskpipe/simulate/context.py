"""Shared run context handed to every source writer."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from riskpipe.simulate.config import SimConfig, stream
from riskpipe.simulate.dirty import DefectLog
from riskpipe.simulate.entities import Enterprises
from riskpipe.simulate.health import World
from riskpipe.simulate.timeline import Timeline
from riskpipe.simulate.writers import RowCounter


@dataclass
class Context:
    """Everything a source needs to generate and write its files.

    Attributes:
        cfg: Configuration.
        timeline: Window.
        ents: Enterprises.
        world: Latent monthly state.
        out: Output root.
        log: Defect manifest.
        rows: Row counter.
    """

    cfg: SimConfig
    timeline: Timeline
    ents: Enterprises
    world: World
    out: Path
    log: DefectLog
    rows: RowCounter

    @property
    def rates(self) -> dict[str, float]:
        """Dirty-data rates as a dict."""
        return dataclasses.asdict(self.cfg.dirty)

    def rng(self, name: str, *index: int) -> np.random.Generator:
        """Random stream for a component (and file index)."""
        return stream(self.cfg.seed, name, *index)

    def rel(self, path: Path) -> str:
        """Path relative to the output root, POSIX style."""
        return path.relative_to(self.out).as_posix()

    def progress(self, items: Iterable, desc: str, total: int | None = None) -> Iterable:
        """Wrap ``items`` in a tqdm bar unless quiet or not attached to a terminal."""
        disable = self.cfg.quiet or not sys.stderr.isatty()
        return tqdm(items, desc=desc, total=total, disable=disable, leave=False)
