"""The ingestion batches of a benchmark run, per source: does a batch cost more as the tables grow?

A first load backfills each source in batches of bounded size (``jobs.ingest.backfill``). If the silver
MERGE or the gap checks scanned the whole table, later batches of a source would cost more per
row than earlier ones; the table puts the first and the last batches side by side.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any


def _per_row(batch: Mapping[str, Any]) -> float | None:
    rows = batch.get("rows_read") or 0
    return batch["seconds"] / rows * 1e6 if rows else None


def _us(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def batch_table(runs: list[Mapping[str, Any]]) -> list[str]:
    """Markdown lines: per run and source, batches, rows, time, µs/row (all, first, last) and peak RSS.

    The first and last batches are compared only for a source ingested in more than one batch.
    """
    lines = [
        "| enterprises | source | batches | rows read | seconds | of which silver | µs/row | "
        "µs/row, first batch | µs/row, last batch | largest peak RSS (MB) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        by_source: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for batch in run.get("ingest_batches") or []:
            by_source[batch["key"].split(" ", 1)[0]].append(batch)
        for source, batches in by_source.items():
            rows = sum(b.get("rows_read") or 0 for b in batches)
            seconds = sum(b["seconds"] for b in batches)
            first, last = (_per_row(batches[0]), _per_row(batches[-1])) if len(batches) > 1 else (None, None)
            lines.append(
                f"| {run['enterprises']} | {source} | {len(batches)} | {rows:,} | {seconds:.1f} | "
                f"{sum(b.get('silver_s', 0.0) for b in batches):.1f} | {_us(seconds / rows * 1e6 if rows else None)} | "
                f"{_us(first)} | {_us(last)} | "
                f"{max(b['peak_rss_mb'] for b in batches):.0f} |"
            )
    return lines if len(lines) > 2 else []
