"""Deterministic source simulator (``riskpipe simulate``).

Generates the files the ingestion jobs read (tax, utility, court, bank transactions, loan
ledger), plus the registry, validation-only truth and a defect manifest. See
``docs/simulator.md`` for the output contract.

Example:
    >>> from riskpipe.simulate import SimConfig, simulate
    >>> summary = simulate(SimConfig(enterprises=300, months=24, quiet=True), "/tmp/sim")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from riskpipe.simulate import bank, court, entities, health, ledger, loans, tax, utility
from riskpipe.simulate.config import ALL_SOURCES, DirtyRates, SimConfig, stream
from riskpipe.simulate.context import Context
from riskpipe.simulate.dirty import DefectLog
from riskpipe.simulate.timeline import Timeline
from riskpipe.simulate.writers import RowCounter, write_csv, write_parquet

__all__ = ["ALL_SOURCES", "DirtyRates", "SimConfig", "simulate"]

LATENT_SCHEMA = pa.schema(
    [("uscc", pa.string()), ("period", pa.string()), ("health", pa.float64()), ("latent_pd_12m", pa.float64())]
)
DEFAULTS_SCHEMA = pa.schema(
    [("uscc", pa.string()), ("loan_id", pa.string()), ("default_date", pa.date32()), ("trigger", pa.string())]
)


def simulate(config: SimConfig, out_dir: str | Path) -> dict[str, Any]:
    """Generate every selected source under ``out_dir``.

    Args:
        config: Simulator configuration.
        out_dir: Output root (created if needed; existing files are overwritten).

    Returns:
        The summary dict also written to ``manifest/summary.json``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tl = Timeline.from_config(config.start, config.months)
    ents = entities.generate(config.enterprises, tl, config.model, stream(config.seed, "entities"))
    world = health.simulate_health(ents, tl, config.model, stream(config.seed, "health"))
    log = DefectLog(out / "manifest" / "defects.jsonl")
    ctx = Context(config, tl, ents, world, out, log, RowCounter())
    try:
        path = out / "registry" / "enterprises.csv"
        write_csv(ents.frame, path)
        ctx.rows.add("registry", ctx.rel(path), len(ents.frame))
        book = loans.build_loans(ctx)
        if "tax" in config.sources:
            tax.write_filings(ctx)
            tax.write_ratings(ctx)
        if "utility" in config.sources:
            utility.write_reads(ctx)
        if "court" in config.sources:
            court.write_events(ctx)
        if "bank" in config.sources:
            bank.write_transactions(ctx)
        if "loans" in config.sources:
            ledger.write_ledger(ctx, book)
        _write_truth(ctx, book)
    finally:
        log.close()
    summary = _summary(ctx, book)
    (out / "manifest" / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return summary


def _write_truth(ctx: Context, book: pd.DataFrame) -> None:
    n, T = ctx.world.h.shape
    periods = np.array(ctx.timeline.periods())
    latent = pd.DataFrame(
        {
            "uscc": np.repeat(ctx.ents.uscc, T),
            "period": np.tile(periods, n),
            "health": np.round(ctx.world.h.ravel(), 6),
            "latent_pd_12m": np.round(ctx.world.latent_pd.ravel(), 6),
        }
    )
    write_parquet(latent, ctx.out / "truth" / "latent_pd.parquet", LATENT_SCHEMA)
    ctx.rows.add("truth", "truth/latent_pd.parquet", len(latent))
    defaults = loans.defaults_truth(book, ctx.timeline.last_day)
    write_parquet(defaults, ctx.out / "truth" / "defaults.parquet", DEFAULTS_SCHEMA)
    ctx.rows.add("truth", "truth/defaults.parquet", len(defaults))


def _summary(ctx: Context, book: pd.DataFrame) -> dict[str, Any]:
    counts: dict[str, int] = {}
    by_source: dict[str, dict[str, int]] = {}
    for (source, dtype), c in sorted(ctx.log.counts.items()):
        counts[dtype] = counts.get(dtype, 0) + c
        by_source.setdefault(source, {})[dtype] = c
    eligible: dict[str, dict[str, int]] = {}
    for (source, dtype), c in sorted(ctx.log.eligible.items()):
        eligible.setdefault(source, {})[dtype] = c
    return {
        "config": ctx.cfg.to_dict(),
        "window": {
            "start": ctx.timeline.periods()[0],
            "end": ctx.timeline.periods()[-1],
            "first_day": str(ctx.timeline.first_day),
            "last_day": str(ctx.timeline.last_day),
        },
        "rows_per_source": dict(sorted(ctx.rows.per_source.items())),
        "files_per_source": dict(sorted(ctx.rows.files.items())),
        "rows_per_file": dict(sorted(ctx.rows.per_file.items())),
        "defects_per_type": counts,
        "defects_per_source": by_source,
        "eligible_per_source": eligible,
        "loans": int(len(book)),
        "defaults": int((book["default_date"] <= ctx.timeline.last_day).sum()),
    }
