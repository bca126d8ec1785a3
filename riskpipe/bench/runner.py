"""``riskpipe bench``: run the pipeline at one or more sizes, compare features with DuckDB, write the report.

Sizes come from ``BENCH_SIZES`` (comma-separated enterprise counts) or ``BENCH_SIZE`` (default
10,000); months from ``BENCH_MONTHS`` (default 36). Results land in ``var/bench/results.json``
and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import time
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

DEFAULT_SIZE = 10_000
DEFAULT_MONTHS = 36


def load_note() -> str:
    """What else the machine was doing: ``BENCH_NOTE`` when set, else the load average at the start."""
    if os.environ.get("BENCH_NOTE"):
        return os.environ["BENCH_NOTE"]
    one, five, _ = os.getloadavg()
    busy = one > 0.5 * (os.cpu_count() or 1)
    return f"Load average when the run started: {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores" + (
        " – the machine was busy, so every time here is an upper bound." if busy else " – nothing else was running."
    )


def sizes_from_env(env: Mapping[str, str] = os.environ) -> tuple[list[int], int]:
    """(enterprise counts, months) from ``BENCH_SIZES`` / ``BENCH_SIZE`` and ``BENCH_MONTHS``."""
    listed = env.get("BENCH_SIZES", "").strip()
    sizes = [int(s) for s in listed.split(",") if s.strip()] if listed else [int(env.get("BENCH_SIZE", DEFAULT_SIZE))]
    return sorted(sizes), int(env.get("BENCH_MONTHS", DEFAULT_MONTHS))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    """Cores, RAM, CPU model, OS and the versions of Python, Java, Spark, Delta, DuckDB and deltalake."""
    import psutil

    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return {
        "cores": str(os.cpu_count()),
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "CPU": cpu,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "Java": java[0] if java else "unknown",
        "Spark (pyspark)": _version("pyspark"),
        "Delta (delta-spark)": _version("delta-spark"),
        "DuckDB": _version("duckdb"),
        "deltalake (delta-rs)": _version("deltalake"),
    }


def _spark_start() -> float:
    from riskpipe.bench.stages import progress
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import get_spark

    settings = load_settings()
    began = time.perf_counter()
    get_spark(settings=settings, app_name="riskpipe-bench")
    seconds = time.perf_counter() - began
    progress(f"Spark session started in {seconds:.1f} s")
    return seconds


def _previous(root: Path, months: int) -> list[dict[str, Any]]:
    """Runs of an earlier ``results.json`` with the same months (for ``--append``)."""
    from riskpipe.bench.stages import input_rows

    path = root / "results.json"
    if not path.exists():
        return []
    runs = [r for r in json.loads(path.read_text()).get("runs", []) if r.get("months") == months]
    for run in runs:
        run["input_rows"] = input_rows(run["rows_per_source"])
    return runs


def _compare(run: dict[str, Any]) -> None:
    from riskpipe.bench import compare
    from riskpipe.bench.stages import progress, snapshot_days
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import get_spark

    try:
        # the settings of the size just run (stages.use_folders pointed the environment at its folders)
        settings = load_settings()
        spark = get_spark(settings=settings, app_name="riskpipe-bench")
        run["duckdb"] = compare.run(spark, snapshot_days(run["months"]), settings=settings)
    except Exception as error:  # noqa: BLE001 - the stage timings stay reported
        progress(f"DuckDB comparison failed: {error!r}")
        run["duckdb"] = {"error": repr(error)[:500]}


def run_all(
    sizes: list[int],
    months: int,
    root: Path,
    doc: Path,
    *,
    append: bool = False,
    resume: bool = False,
    pause_after_min: float | None = None,
) -> dict[str, Any]:
    """Run every size, compare with DuckDB, fit the stages and write JSON and markdown.

    Args:
        sizes: enterprise counts.
        months: simulated months per size.
        root: working folder (``var/bench``); one subfolder per size.
        doc: the markdown report to write.
        append: keep the runs of other sizes from an earlier ``results.json`` (same months).
        resume: carry on where an earlier, paused run stopped: sizes already in ``results.json``
            are kept, a size with a checkpoint continues from it (implies ``append``).
        pause_after_min: start no new stage or ingestion batch after this many minutes; the
            size under way is checkpointed and the run stops, to go on with ``resume``.

    Returns:
        The results; ``results["paused"]`` names the size left unfinished, if any.
    """
    from riskpipe.bench.checkpoint import Paused
    from riskpipe.bench.stages import progress, run_size

    os.environ.setdefault("RISKPIPE_SPARK_UI", "false")
    deadline = None if pause_after_min is None else time.monotonic() + 60 * pause_after_min
    results: dict[str, Any] = {
        "machine": machine_info(),
        "months": months,
        "note": load_note(),
        "spark_start_s": _spark_start(),
        "runs": [],
    }
    if append or resume:
        results["runs"] = [r for r in _previous(root, months) if r["enterprises"] not in sizes or resume]
    done = {r["enterprises"] for r in results["runs"]}
    for size in sizes:
        if size in done:
            progress(f"size {size}: already in {root / 'results.json'} (--resume)")
            continue
        try:
            run = run_size(size, months, root / f"n{size}", resume=resume, deadline=deadline)
        except Paused as paused:
            progress(f"size {size} paused: {paused}")
            results["paused"] = size
            return results
        results["runs"].append(run)
        # written before the comparison too: if it dies (the kernel's OOM killer gives no
        # exception), the stage timings are kept and `--compare-only` can redo it
        run["duckdb"] = {"error": "not run: the DuckDB comparison did not finish"}
        _finish(results, root, doc)
        _compare(run)
        _finish(results, root, doc)
        progress(f"size {size} done; results in {root / 'results.json'} and {doc}")
    return results


def _finish(results: dict[str, Any], root: Path, doc: Path) -> None:
    from riskpipe.bench import doc as render_doc
    from riskpipe.bench import fit

    results["fits"] = fit.fit_stages(results["runs"])
    results["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    _write(results, root, doc, render_doc.render)


def compare_only(sizes: list[int], months: int, root: Path, doc: Path) -> dict[str, Any]:
    """Redo the DuckDB comparison of runs already in ``root/results.json`` on their kept work folders."""
    from riskpipe.bench.stages import input_rows, progress, use_folders

    os.environ.setdefault("RISKPIPE_SPARK_UI", "false")
    results = json.loads((root / "results.json").read_text())
    runs = {r["enterprises"]: r for r in results["runs"] if r.get("months") == months}
    missing = [size for size in sizes if size not in runs or not (root / f"n{size}" / "lakehouse").is_dir()]
    if missing:
        raise SystemExit(f"no run (or no work folder under {root}) of {missing} x {months} to compare again")
    for run in results["runs"]:
        run["input_rows"] = input_rows(run["rows_per_source"])
    for size in sizes:
        use_folders(root / f"n{size}", fresh=False)
        progress(f"DuckDB comparison again for {size} enterprises x {months} months")
        _compare(runs[size])
        _finish(results, root, doc)
    return results


def maintenance_only(sizes: list[int], months: int, root: Path, doc: Path) -> dict[str, Any]:
    """Run only the maintenance step on the kept lakehouses of ``sizes`` (silver transactions ingested).

    A size with a run in ``results.json`` gets the step's figures there and in ``doc``; every size
    also gets them in ``n<size>/maintenance.json`` and, rendered, ``n<size>/maintenance.md`` (a run
    paused after ingestion has no other results).
    """
    from riskpipe.bench import doc as render_doc
    from riskpipe.bench.stages import maintenance_step, progress, use_folders
    from riskpipe.core.config import load_settings
    from riskpipe.core.spark import get_spark

    os.environ.setdefault("RISKPIPE_SPARK_UI", "false")
    path = root / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {"runs": []}
    runs = {r["enterprises"]: r for r in results["runs"] if r.get("months") == months}
    found: dict[str, Any] = {}
    for size in sizes:
        folder = root / f"n{size}"
        if not (folder / "lakehouse" / "silver" / "transactions" / "_delta_log").is_dir():
            raise SystemExit(f"no silver transactions under {folder}: run the bench of {size} x {months} first")
        use_folders(folder, fresh=False)
        settings = load_settings()
        spark = get_spark(settings=settings, app_name="riskpipe-bench")
        progress(f"maintenance step for {size} enterprises x {months} months")
        result = maintenance_step(spark, settings)
        found[str(size)] = result
        (folder / "maintenance.json").write_text(json.dumps(result, indent=2, default=str))
        (folder / "maintenance.md").write_text(
            "\n".join(render_doc.maintenance_lines([{"enterprises": size, "months": months, "maintenance": result}]))
            + "\n"
        )
        if size in runs:
            runs[size]["maintenance"] = result
            for run in results["runs"]:
                run["input_rows"] = input_rows_of(run)
            _finish(results, root, doc)
    return found


def input_rows_of(run: Mapping[str, Any]) -> int:
    from riskpipe.bench.stages import input_rows

    return input_rows(run["rows_per_source"])


def _write(results: Mapping[str, Any], root: Path, doc: Path, render) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "results.json").write_text(json.dumps(results, indent=2, default=str))
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render(results), encoding="utf-8")


def render_only(root: Path, doc: Path) -> None:
    """Render ``doc`` again from ``root/results.json`` (no run; the fits are recomputed)."""
    from riskpipe.bench import doc as render_doc
    from riskpipe.bench import fit
    from riskpipe.bench.stages import input_rows

    results = json.loads((root / "results.json").read_text())
    for run in results["runs"]:
        run["input_rows"] = input_rows(run["rows_per_source"])
    results["fits"] = fit.fit_stages(results["runs"])
    _write(results, root, doc, render_doc.render)
