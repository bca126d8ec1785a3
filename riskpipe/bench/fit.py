"""Least-squares fit of ``time = fixed + per_row x rows`` per stage, over the benchmark sizes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def fit_line(rows: Sequence[float], seconds: Sequence[float]) -> dict[str, float | None]:
    """Fit ``seconds = fixed + per_row * rows`` by least squares.

    Args:
        rows: input rows of each run.
        seconds: wall time of each run.

    Returns:
        ``fixed`` (s), ``per_row`` (s per row) and ``r2``; all None with fewer than two distinct sizes.
    """
    x, y = np.asarray(rows, dtype=float), np.asarray(seconds, dtype=float)
    if len(x) < 2 or len(np.unique(x)) < 2:
        return {"fixed": None, "per_row": None, "r2": None}
    design = np.column_stack([np.ones_like(x), x])
    (fixed, per_row), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = float(np.sum((y - design @ np.array([fixed, per_row])) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - residual / total if total > 0 else 1.0
    return {"fixed": float(fixed), "per_row": float(per_row), "r2": r2}


def fit_stages(runs: Sequence[Mapping]) -> dict[str, dict[str, float | None]]:
    """Fit every stage present in all ``runs`` (each with ``input_rows`` and ``stages: {name: {seconds}}``)."""
    names = [n for n in runs[0]["stages"] if all(n in r["stages"] for r in runs)] if runs else []
    rows = [r["input_rows"] for r in runs]
    return {n: fit_line(rows, [r["stages"][n]["seconds"] for r in runs]) for n in names}
