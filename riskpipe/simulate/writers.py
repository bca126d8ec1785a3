"""Deterministic file writers (CSV, JSON Lines, Parquet) and file truncation."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskpipe.simulate.dirty import DefectLog

PARQUET_COMPRESSION = "snappy"
TRUNCATE_MIN_SHARE, TRUNCATE_MAX_SHARE = 0.3, 0.9
REDELIVERY_SUFFIX = "_redelivery"


class RowCounter:
    """Rows written per source and per file (for ``manifest/summary.json``)."""

    def __init__(self) -> None:
        self.per_source: Counter = Counter()
        self.per_file: dict[str, int] = {}
        self.files: Counter = Counter()

    def add(self, source: str, relpath: str, rows: int) -> None:
        """Count one written file."""
        self.per_source[source] += rows
        self.per_file[relpath] = rows
        self.files[source] += 1


def _ensure_parent(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)


def _as_frame(data: Any) -> pd.DataFrame:
    return data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)


def _as_columns(data: Any) -> dict[str, np.ndarray]:
    if isinstance(data, pd.DataFrame):
        return {c: data[c].to_numpy() for c in data.columns}
    return data


def write_csv(data: Any, path: Path) -> None:
    """Write UTF-8 CSV with a header, ``\\n`` line ends and ``true``/``false`` booleans.

    Args:
        data: DataFrame or dict of column arrays.
        path: Target file.
    """
    _ensure_parent(path)
    out = _as_frame(data).copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = np.where(out[col], "true", "false")
    out.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_jsonl(data: Any, path: Path) -> None:
    """Write JSON Lines (UTF-8, not ASCII-escaped, NaN/None as null).

    Args:
        data: DataFrame or dict of column arrays.
        path: Target file.
    """
    _ensure_parent(path)
    cols = _as_columns(data)
    names = list(cols)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in zip(*(cols[c].tolist() for c in names)):
            rec = {c: _jsonable(v) for c, v in zip(names, row)}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _arrow(values: Any, typ: pa.DataType) -> pa.Array:
    if isinstance(values, np.ndarray) and values.dtype.kind == "S":
        return pa.array(values, type=pa.binary()).cast(typ)
    return pa.array(values, type=typ)


def write_parquet(data: Any, path: Path, schema: pa.Schema) -> None:
    """Write Parquet with an explicit Arrow schema (no pandas metadata).

    Args:
        data: DataFrame or dict of column arrays (numpy ``S`` arrays become strings).
        path: Target file.
        schema: Arrow schema; columns are taken in its order.
    """
    _ensure_parent(path)
    cols = _as_columns(data)
    arrays = [_arrow(cols[f.name], f.type) for f in schema]
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path, compression=PARQUET_COMPRESSION)


class BackgroundWriter:
    """Runs one write at a time on a worker thread, overlapping it with generation.

    At most one write is pending (memory stays bounded); its follow-up callback runs on the
    caller's thread, in submission order, so manifest entries stay deterministic.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: tuple[Future, Callable[[], None] | None] | None = None

    def submit(self, fn: Callable[..., None], *args: Any, after: Callable[[], None] | None = None) -> None:
        """Wait for the previous write, then start ``fn(*args)``; ``after`` runs once done."""
        self.wait()
        self._pending = (self._pool.submit(fn, *args), after)

    def wait(self) -> None:
        """Wait for the pending write and run its callback."""
        if self._pending is not None:
            future, after = self._pending
            self._pending = None
            future.result()
            if after is not None:
                after()

    def close(self) -> None:
        """Finish pending work and stop the thread."""
        try:
            self.wait()
        finally:
            self._pool.shutdown()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def maybe_truncate(
    path: Path, root: Path, source: str, rate: float, rng: np.random.Generator, log: DefectLog
) -> Path | None:
    """With probability ``rate`` cut ``path`` mid-row and re-deliver the full file.

    The full content is written next to it as ``<stem>_redelivery<ext>`` (a re-delivery
    in the next period); the original is cut at a byte offset that is not a line end.

    Args:
        path: Written file.
        root: Output root (manifest paths are relative to it).
        source: Source name.
        rate: Probability of truncation.
        rng: Random generator of this file.
        log: Manifest log.

    Returns:
        The re-delivery path if the file was truncated, else None.
    """
    log.eligible[(source, "truncated_file")] += 1
    if rate <= 0 or rng.random() >= rate:
        return None
    data = path.read_bytes()
    if len(data) < 2:
        return None
    redelivery = path.with_name(path.stem + REDELIVERY_SUFFIX + path.suffix)
    redelivery.write_bytes(data)
    cut = int(len(data) * rng.uniform(TRUNCATE_MIN_SHARE, TRUNCATE_MAX_SHARE))
    while cut > 1 and data[cut - 1 : cut] == b"\n":
        cut -= 1
    path.write_bytes(data[:cut])
    rel = path.relative_to(root).as_posix()
    log.record(
        "truncated_file",
        source,
        rel,
        [{"bytes_kept": cut, "bytes_full": len(data)}],
        [{"redelivered_as": redelivery.relative_to(root).as_posix()}],
    )
    return redelivery
