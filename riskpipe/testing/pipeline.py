"""The whole pipeline on real simulator output, once, for end-to-end tests.

``build_sim_pipeline`` simulates a small portfolio, then runs the stages declared in
:mod:`riskpipe.pipeline` that the Airflow DAGs run too: it ingests every source
(``ingest_<source>``; court events through the simulator's REST API on a free localhost port),
builds point-in-time features and default labels for every month-end (``features``, a full
build), trains the scorecard and its challenger on an out-of-time split (``train``) and promotes
the scorecard through the gate (``promote``), so ``models:/<model_name>@champion`` exists in the
given tracking store. Nothing is mocked; only the size is small.

The default size (400 enterprises x 30 months from 2019-01) keeps the build around two
minutes on two cores: bank transactions (about 1,300 rows per enterprise-year) dominate the
cost. The window is placed on the 2020 shock: snapshots 2019-07..2021-06, training on
2019-07..2019-12, out of time on 2020-01..2020-06, whose 12-month horizons hold the defaults
of 2020-2021 (28 defaulted loans with the default seed). The seed is fixed: the same arguments
give the same tables and the same model metrics.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from riskpipe import pipeline
from riskpipe.core.config import Settings

# simulator source -> the runner sources it feeds (the registry is always simulated)
SIM_SOURCES = {
    "tax": ("tax_filings", "tax_ratings"),
    "utility": ("utility_reads",),
    "court": ("court_events",),
    "bank": ("transactions",),
    "loans": ("loans", "loan_balances", "fund_statements"),  # the ledger writer also writes the fund's statements
}
DEFAULT_ENTERPRISES = 400
DEFAULT_MONTHS = 30
DEFAULT_START = "2019-01"
DEFAULT_SEED = 20190
# Months of history before the first snapshot (the 3/6-month lookbacks are then complete;
# 12-month features see a partial year for the first snapshots, as for a new portfolio).
HISTORY_MONTHS = 6
# Out-of-time sample: the last uncensored snapshots (labels need 12 observed months after D).
OOT_MONTHS = 6
LABEL_HORIZON_MONTHS = 12
COURT_TOKEN_ENV = "RISKPIPE_COURT_API_TOKEN"
PIPELINE_COURT_TOKEN = "sim-pipeline-token"


@dataclass
class SimPipeline:
    """What :func:`build_sim_pipeline` built.

    Attributes:
        root: temporary root holding ``landing/`` (simulator output) and ``lakehouse/``.
        settings: the caller's settings pointed at ``root`` (lakehouse and landing).
        model_config: the configuration the champion was trained with.
        champion_version: registered version behind ``models:/<name>@champion``.
        snapshots: month-end snapshot dates built in ``enterprise_features``.
        split_date: first snapshot date of the out-of-time sample.
        sim_config: the simulator configuration.
        train_result: :class:`models.train.TrainResult` of the training.
    """

    root: Path
    settings: Settings
    model_config: Any
    champion_version: str
    snapshots: list[dt.date]
    split_date: str
    sim_config: Any
    train_result: Any


def _month(start: str, offset: int) -> dt.date:
    """First day of the month ``offset`` months after ``start`` (``YYYY-MM``)."""
    first = dt.date.fromisoformat(f"{start}-01")
    index = first.year * 12 + first.month - 1 + offset
    return dt.date(index // 12, index % 12 + 1, 1)


def _progress(message: str, began: float) -> None:
    print(f"[sim_pipeline] {message} ({time.perf_counter() - began:.1f} s)", flush=True)


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block and restore the previous values after it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _ingestion_services(landing: Path) -> Iterator[str]:
    """Serve the simulator's court events on a free port; yields its URL (the token is in the environment)."""
    from riskpipe.simulate.server import start_server

    token = os.environ.get(COURT_TOKEN_ENV) or PIPELINE_COURT_TOKEN
    server, _thread = start_server(str(landing), "127.0.0.1", 0, token)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with _environment(**{COURT_TOKEN_ENV: token}):
            yield url
    finally:
        server.shutdown()
        server.server_close()


def _ingest(spark: Any, local: Settings, start: dt.date, end: dt.date, sources: tuple[str, ...]) -> None:
    """The ingestion stage of every simulated source over the whole window in one interval (what a
    first load does), in the declared ingestion order."""
    fed = {"enterprises"} | {t for s in sources for t in SIM_SOURCES[s]}
    with _ingestion_services(Path(local.landing_root)) as url:
        # Data Docs are for people reading a deployment's validation results; rebuilding the site
        # after every batch only slows the shared test build down (empty disables them)
        served = local.merged({"ingestion": {"court_api": {"base_url": url}, "data_docs_dir": ""}})
        for source in pipeline.ingest_order(fed):
            began = time.perf_counter()
            summary = pipeline.run(
                pipeline.ingest_stage_name(source),
                pipeline.RunContext(interval=(start, end)),
                settings=served,
                spark=spark,
            )
            _progress(
                f"ingested {source}: read {summary.get('rows_read')}, published "
                f"{summary.get('rows_published')}, quarantined {summary.get('rows_quarantined')}",
                began,
            )


def model_overrides(
    *, model_name: str, split_date: str, tracking_uri: str | None, artifact_root: str | None
) -> dict[str, Any]:
    """The model configuration the pipeline trains with: its own registered name and experiment,
    the out-of-time split, the latest data, and the given MLflow store."""
    overrides: dict[str, Any] = {
        "name": model_name,
        "experiment": f"{model_name}-experiment",
        "data": {"split_date": split_date, "version": None, "label_version": None},
    }
    if tracking_uri:
        overrides["tracking_uri"] = tracking_uri
    if artifact_root:
        overrides["artifact_root"] = artifact_root
    return overrides


@dataclass
class StagesRun:
    """What :func:`run_stages` ran: the snapshots built, the training's result, the gate's decision
    and when the training started (``time.perf_counter()``)."""

    snapshots: list[dt.date]
    train_result: Any
    decision: Any
    training_began: float


def run_stages(
    spark: Any,
    local: Settings,
    *,
    start: str,
    months: int,
    sources: tuple[str, ...],
    model: dict[str, Any],
) -> StagesRun:
    """The declared stages on the simulated window, in the declared order: the ingestion of every
    simulated source, the features and labels of every month-end after the history months, the
    training with the configuration overrides ``model``, then the promotion gate."""
    from riskpipe.core.calendar import month_ends

    window_start, window_end = _month(start, 0), _month(start, months)
    # monthly feeds deliver the window's last period in the month after it
    _ingest(spark, local, window_start, _month(start, months + 1), sources)
    began = time.perf_counter()
    snapshots = month_ends(_month(start, HISTORY_MONTHS), window_end - dt.timedelta(days=1))
    features = pipeline.RunContext(snapshots=tuple(snapshots), full=True)
    pipeline.run("features", features, settings=local, spark=spark)
    _progress(f"built features and labels of {len(snapshots)} snapshots", began)
    began = time.perf_counter()
    training = pipeline.RunContext(model=model)
    result = pipeline.run("train", training, settings=local, spark=spark)
    decision = pipeline.run("promote", training, settings=local, spark=spark)
    return StagesRun(snapshots=snapshots, train_result=result, decision=decision, training_began=began)


def build_sim_pipeline(
    root: str | Path,
    *,
    spark: Any,
    settings: Settings,
    enterprises: int = DEFAULT_ENTERPRISES,
    months: int = DEFAULT_MONTHS,
    seed: int = DEFAULT_SEED,
    start: str = DEFAULT_START,
    model_name: str = "sme_pd_sim",
    tracking_uri: str | None = None,
    artifact_root: str | None = None,
    sources: tuple[str, ...] | None = None,
) -> SimPipeline:
    """Simulate, ingest, build features and labels, train and promote a champion under ``root``.

    Args:
        root: empty temporary folder (``landing/`` and ``lakehouse/`` are created in it).
        spark: the SparkSession to use.
        settings: base settings; only ``lakehouse_root`` and ``landing_root`` are replaced.
        enterprises, months, seed, start: simulator size, seed and first month (``YYYY-MM``).
        model_name: registered model name (and ``<model_name>-experiment``).
        tracking_uri, artifact_root: MLflow store; default the settings' store.
        sources: simulator sources to generate and ingest (default all; leaving out ``bank``
            removes the largest feed, the transaction features are then missing).

    Returns:
        The :class:`SimPipeline`.

    Raises:
        ValueError: when the window leaves no uncensored out-of-time snapshots.
        RuntimeError: when the gate refuses to promote the first champion.
    """
    from models.config import model_config
    from models.registry import champion_version
    from riskpipe.simulate import simulate
    from riskpipe.simulate.config import SimConfig

    if months < HISTORY_MONTHS + LABEL_HORIZON_MONTHS + 2 * OOT_MONTHS:
        raise ValueError(
            f"months={months}: need at least "
            f"{HISTORY_MONTHS + LABEL_HORIZON_MONTHS + 2 * OOT_MONTHS} for an out-of-time split"
        )
    root = Path(root)
    local = settings.replace(lakehouse_root=str(root / "lakehouse"), landing_root=str(root / "landing"))
    sources = tuple(sources or SIM_SOURCES)
    sim_config = SimConfig(enterprises=enterprises, months=months, seed=seed, start=start, quiet=True, sources=sources)
    began = time.perf_counter()
    summary = simulate(sim_config, local.landing_root)
    _progress(
        f"simulated {enterprises} enterprises x {months} months from {start}: "
        f"{summary.get('loans')} loans, {summary.get('defaults')} defaults",
        began,
    )

    split_date = _month(start, months - LABEL_HORIZON_MONTHS - OOT_MONTHS).isoformat()
    overrides = model_overrides(
        model_name=model_name, split_date=split_date, tracking_uri=tracking_uri, artifact_root=artifact_root
    )
    ran = run_stages(spark, local, start=start, months=months, sources=sources, model=overrides)
    snapshots, result = ran.snapshots, ran.train_result
    config = model_config(local, overrides)
    version = champion_version(config)
    if version is None:
        raise RuntimeError(f"{model_name}: the promotion gate refused the first champion: {ran.decision.reasons}")
    metrics = result.models[result.candidate_kind].metrics
    _progress(
        f"trained {model_name} (split {split_date}): champion v{version}, OOT AUC "
        f"{metrics.get('oot_auc', float('nan')):.3f}, OOT rows {metrics.get('oot_rows', 0):.0f}",
        ran.training_began,
    )
    return SimPipeline(
        root=root,
        settings=local,
        model_config=config,
        champion_version=version,
        snapshots=snapshots,
        split_date=split_date,
        sim_config=sim_config,
        train_result=result,
    )
