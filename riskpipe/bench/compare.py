"""The reference features in DuckDB against Spark on the same silver data: check, then time per family.

Both engines get their input in memory first: Spark caches the silver tables (filtered to the
snapshots' lookback, as the feature build reads them), DuckDB loads the same Delta tables into its
own database (their current Parquet files as ``deltalake`` lists them; no Spark involved), within
the same memory budget as the Spark driver, spilling to local disk as Spark's cache does. Each engine
computes only the reference's ten features
(Spark prunes the other columns of its family builders), so the ratio compares like with like.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from riskpipe.bench import duckdb_features as ref
from riskpipe.bench.stages import progress
from riskpipe.core.config import Settings

REPEATS = 2
KEYS = ["snapshot_date", "uscc"]
SPARK_FAMILIES = ("tax", "utility", "court", "transactions", "loans")


def _best(func: Callable[[], Any], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        func()
        times.append(time.perf_counter() - began)
    return min(times)


def silver_sources(settings: Settings) -> dict[str, Any]:
    """Per reference table, what DuckDB loads: the Delta table's current Parquet files, or an Arrow table.

    DuckDB reads the files itself (into its own storage, within its memory limit) unless it cannot
    read them alone: a read column that is a partition column (not in the files) or deletion
    vectors (rows the files still hold); delta-rs then reads the table into Arrow in this process.
    At 100,000 enterprises the transactions alone would be about 9 GB of Arrow beside the Spark
    driver, so the large tables must not go through Python.

    Returns:
        table name -> list of local Parquet paths, or a pyarrow Table.
    """
    from deltalake import DeltaTable

    from riskpipe.core import io

    sources: dict[str, Any] = {}
    for name in ref.SOURCE_TABLES:
        table, columns = DeltaTable(io.table_path(name, settings=settings)), list(ref.READ_COLUMNS[name])
        readers = table.protocol().reader_features or []
        files = [uri.removeprefix("file://") for uri in table.file_uris()]
        direct = (
            files
            and all(f.startswith("/") for f in files)
            and "deletionVectors" not in readers
            and not set(table.metadata().partition_columns) & set(columns)
        )
        sources[name] = files if direct else table.to_pyarrow_table(columns=columns)
    return sources


def duckdb_memory(driver_memory: str) -> str:
    """DuckDB's ``memory_limit`` for the Spark driver's memory (``6g`` -> ``6GiB``): the same budget."""
    units = {"k": "KiB", "m": "MiB", "g": "GiB", "t": "TiB"}
    text = driver_memory.strip().lower().rstrip("b")
    if text and text[-1] in units and text[:-1].isdigit():
        return f"{text[:-1]}{units[text[-1]]}"
    raise ValueError(f"cannot read the Spark driver memory {driver_memory!r} (expected e.g. 6g)")


def _spark_frames(spark, days: list[dt.date], settings: Settings) -> tuple[dict[str, Callable[[], Any]], list[Any]]:
    from jobs.features import court, loans, tax, transactions, utility
    from jobs.features.build import SILVER_TABLES, features_frame, silver_filters
    from riskpipe.core import io

    filters = silver_filters(days)
    silver = {t: io.read(spark, t, settings=settings).where(filters[t]).cache() for t in SILVER_TABLES}
    for frame in silver.values():
        frame.count()
    builders = {
        "tax": lambda: tax.transform(silver["tax_filings"], ratings=silver["tax_ratings"], as_of=days),
        "utility": lambda: utility.transform(silver["utility_reads"], as_of=days),
        "court": lambda: court.transform(silver["court_events"], as_of=days),
        "transactions": lambda: transactions.transform(silver["transactions"], as_of=days),
        "loans": lambda: loans.transform(silver["loan_balances"], loans=silver["loans"], as_of=days),
        "all": lambda: features_frame(silver, as_of=days, built_from="{}"),
    }
    return builders, list(silver.values())


def check(con, spark, settings: Settings) -> dict[str, Any]:
    """Compare the DuckDB reference with the gold ``enterprise_features`` the pipeline wrote."""
    from riskpipe.core import io

    theirs = con.execute(ref.SQL).df()
    ours = io.read(spark, "enterprise_features", settings=settings).select(*KEYS, *ref.COLUMNS).toPandas()
    for frame in (theirs, ours):
        frame["snapshot_date"] = pd.to_datetime(frame["snapshot_date"])
    both = ours.merge(theirs, on=KEYS, how="inner", suffixes=("_spark", "_duckdb"))
    mismatches = {}
    for col in ref.COLUMNS:
        left, right = both[f"{col}_spark"].astype("float64"), both[f"{col}_duckdb"].astype("float64")
        same = np.isclose(left, right, rtol=1e-9, atol=1e-9, equal_nan=True)
        mismatches[col] = int((~same).sum())
    return {
        "spark_rows": len(ours),
        "duckdb_rows": len(theirs),
        "joined_rows": len(both),
        "mismatches": mismatches,
        "match": len(both) == len(ours) and not any(mismatches.values()),
    }


def run(spark, days: list[dt.date], *, settings: Settings) -> dict[str, Any]:
    """Check the outputs match, then time every family (best of ``REPEATS``) in both engines.

    Returns:
        ``check`` (rows and mismatches), ``threads`` (DuckDB), ``spark_parallelism``, ``load_s`` (the
        tables into DuckDB), ``loaded_from_files`` and ``families``:
        family -> ``{spark_s, duckdb_s, ratio}``; ``all`` is the ten features together.
    """
    threads = os.cpu_count() or 1  # the cores local[*] Spark runs its tasks on
    snaps = pd.DataFrame({"snapshot_date": pd.to_datetime(days)})
    memory = duckdb_memory(settings.driver_memory)
    with tempfile.TemporaryDirectory(prefix="riskpipe-duckdb-") as spill:
        began = time.perf_counter()
        sources = silver_sources(settings)
        frames = {t: v for t, v in sources.items() if not isinstance(v, list)}
        # a database file in the spill folder: DuckDB's buffer manager keeps what fits in
        # memory_limit, as Spark's cache spills to local disk
        con = ref.connect(
            frames,
            snaps,
            threads=threads,
            memory_limit=memory,
            temp_directory=spill,
            database=os.path.join(spill, "silver.duckdb"),
        )
        for table, files in sources.items():
            if isinstance(files, list):
                columns = ", ".join(ref.READ_COLUMNS[table])
                con.execute(f"CREATE TABLE {table} AS SELECT {columns} FROM read_parquet(?)", [files])
        load = time.perf_counter() - began
        progress(
            f"DuckDB loaded the silver tables in {load:.1f} s "
            f"({', '.join(t for t, v in sources.items() if isinstance(v, list))} from their Parquet files)"
        )
        result = _timed(con, spark, days, settings)
        con.close()
    return {
        "threads": threads,
        "memory_limit": memory,
        "load_s": load,
        "loaded_from_files": sorted(t for t, v in sources.items() if isinstance(v, list)),
        **result,
    }


def _timed(con, spark, days: list[dt.date], settings: Settings) -> dict[str, Any]:
    """The check, then every family in both engines (Spark's cached silver released after)."""
    result: dict[str, Any] = {
        "spark_parallelism": spark.sparkContext.defaultParallelism,
        "check": check(con, spark, settings),
    }
    progress(f"duckdb vs spark check: {result['check']}")
    builders, cached = _spark_frames(spark, days, settings)
    families: dict[str, dict[str, float]] = {}
    for family in (*SPARK_FAMILIES, "all"):
        columns = ref.COLUMNS if family == "all" else ref.family_columns(family)
        query = ref.sql(None if family == "all" else [family])
        duck = _best(lambda query=query: con.execute(f"CREATE OR REPLACE TEMP TABLE bench_out AS {query}"))
        frame = builders[family]().select(*KEYS, *columns)
        sparked = _best(lambda frame=frame: frame.write.format("noop").mode("overwrite").save())
        families[family] = {"spark_s": sparked, "duckdb_s": duck, "ratio": sparked / duck if duck else None}
        progress(f"family {family}: spark {sparked:.2f} s, duckdb {duck:.3f} s")
    result["families"] = families
    for frame in cached:
        frame.unpersist()
    return result
