"""The pipeline's stages, declared once: what each runs, what it reads and writes, what it follows.

The demo (``riskpipe.commands.demo``), the end-to-end test fixture
(``riskpipe.testing.pipeline.build_sim_pipeline``), the benchmark (``riskpipe.bench.stages``) and the
Airflow DAG tasks (``dags/``) run these stages by name through :func:`run`; none of them calls the
jobs of a stage itself. A caller chooses which stages to run and on what (a :class:`RunContext`:
the data interval of an ingestion, the month-end snapshots of a gold job, the model options of a
training); the declaration says what a stage does with them.

:data:`STAGES` lists the stages in an order that respects every ``after``: a caller that runs
several stages runs them in this order. ``reads`` and ``writes`` name tables of the ``schemas``
registry; ``reads`` lists the tables a stage needs another stage to have written (a job may also
read back the tables it writes).

Parse-time rule: the DAG files import this module, so it imports no job, Spark or MLflow at module
level; each stage imports its job when it runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from riskpipe.core.config import Settings


@dataclass(frozen=True)
class RunContext:
    """What one run of a stage works on. Each stage reads only the fields its docstring names.

    Attributes:
        interval: data interval ``(start, end)`` of an ingestion run (ISO dates or dates, end exclusive).
        mode: ingestion read mode, ``files`` or ``jdbc``.
        snapshots: month-end snapshot dates (dates or ISO strings) of a gold stage, oldest first.
        full: ``features``: rebuild every snapshot of ``snapshots[0]..snapshots[-1]``; else
            update ``snapshots[-1]`` and the missing or stale months before it.
        model: overrides of the model configuration (``models.config.model_config``).
        run_key: ``train``: key of the MLflow runs, so that a retried attempt resumes them.
        version: ``promote``: the model version to put through the gate (default ``@challenger``).
        alias: ``score``: the model alias to score with (default the champion).
        tables: ``maintenance_*``: the tables to maintain (default every declared table).
    """

    interval: tuple[dt.date | str, dt.date | str] | None = None
    mode: str = "files"
    snapshots: tuple[dt.date | str, ...] = ()
    full: bool = False
    model: Mapping[str, Any] = field(default_factory=dict)
    run_key: str | None = None
    version: str | None = None
    alias: str | None = None
    tables: tuple[str, ...] = ()

    @property
    def day(self) -> dt.date | str:
        """The one snapshot of a stage that works on a single month-end.

        Raises:
            ValueError: when ``snapshots`` does not hold exactly one date.
        """
        if len(self.snapshots) != 1:
            raise ValueError(f"this stage runs on one snapshot, got {list(self.snapshots)}")
        return self.snapshots[0]

    @property
    def days(self) -> list[dt.date | str]:
        """Every snapshot (at least one).

        Raises:
            ValueError: when ``snapshots`` is empty.
        """
        if not self.snapshots:
            raise ValueError("this stage needs at least one snapshot date")
        return list(self.snapshots)

    @property
    def bounds(self) -> tuple[dt.date | str, dt.date | str]:
        """The data interval of an ingestion run.

        Raises:
            ValueError: when no interval is set.
        """
        if self.interval is None:
            raise ValueError("ingestion runs need a data interval")
        return self.interval


StageRun = Callable[..., Any]
"""``run(context, *, settings, spark)``: runs the stage's job(s) and returns their summary."""


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline.

    Attributes:
        name: unique name (the DAG tasks and the callers look the stage up by it).
        run: ``run(context, *, settings, spark)``; ``spark`` is None for a stage that needs none.
        reads: tables (``schemas`` registry names) that other stages must have written first.
        writes: tables the stage writes.
        after: stages that must have run before this one (of the same data).
        needs_spark: whether ``run`` uses the Spark session (training's gate only reads MLflow).
    """

    name: str
    run: StageRun
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    needs_spark: bool = True


# Ingestion ------------------------------------------------------------------------------------

# The sources the features are built from, in ingestion order: court events are matched to
# enterprises by name, and balances refer to loans.
FEATURE_SOURCES = (
    "enterprises",
    "tax_filings",
    "tax_ratings",
    "utility_reads",
    "court_events",
    "transactions",
    "loans",
    "loan_balances",
)
# Every source: the features' and the risk compensation fund's monthly statements (the fund's
# balance of the portfolio stages).
SOURCES = (*FEATURE_SOURCES, "fund_statements")
# the operational tables every ingestion batch writes
INGEST_OPS = ("ingest_manifest", "quarantine")
# the gap check each feed gets after its batch (jobs.ingest.gaps / jobs.ingest.continuity), and the
# watermarks of the sources that can also be read from core banking over JDBC
INGEST_CHECKS = {
    "tax_filings": ("data_gaps",),
    "utility_reads": ("data_gaps",),
    "court_events": ("continuity_gaps",),
    "transactions": ("continuity_gaps", "ingest_watermarks"),
    "loans": ("ingest_watermarks",),
    "loan_balances": ("ingest_watermarks",),
}
INGEST_READS = {"court_events": ("enterprises",), "loan_balances": ("loans",)}


def ingest_stage_name(source: str) -> str:
    """The stage that ingests ``source`` (a ``jobs.ingest.run`` source name): ``ingest_<source>``."""
    return f"ingest_{source}"


def _ingest(source: str) -> StageRun:
    def run(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
        """``jobs.ingest.run.run_source`` over ``context.interval`` in ``context.mode``."""
        from jobs.ingest.run import run_source

        start, end = context.bounds
        return run_source(
            source, data_interval_start=start, data_interval_end=end, settings=settings, spark=spark, mode=context.mode
        )

    run.__name__ = run.__qualname__ = f"ingest_{source}"
    return run


def _ingest_stage(source: str) -> Stage:
    writes = (f"bronze_{source}", source, *INGEST_OPS, *INGEST_CHECKS.get(source, ()))
    reads = INGEST_READS.get(source, ())
    return Stage(
        name=ingest_stage_name(source),
        run=_ingest(source),
        reads=reads,
        writes=writes,
        after=tuple(ingest_stage_name(table) for table in reads),
    )


# Gold -----------------------------------------------------------------------------------------


def _features(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """``context.full``: ``build_range`` of every snapshot of the range; else ``update`` of the last one."""
    from jobs.features.main import build_range, update

    if context.full:
        days = context.days
        return build_range(spark, days[0], days[-1], full=True, settings=settings)
    return update(spark, context.days[-1], settings=settings)


def _train(context: RunContext, *, settings: Settings, spark: SparkSession) -> Any:
    """``models.train.train`` with the configuration of ``context.model``; returns its ``TrainResult``."""
    from models.config import model_config
    from models.train import train

    return train(model_config(settings, context.model), spark=spark, settings=settings, run_key=context.run_key)


def _promote(context: RunContext, *, settings: Settings, spark: SparkSession | None) -> Any:
    """The promotion gate for ``context.version`` (default ``@challenger``); returns its ``GateDecision``."""
    from models.config import model_config
    from models.registry import promote

    return promote(model_config(settings, context.model), context.version)


def _score(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """``jobs.scoring.main.run`` of every snapshot, with ``context.alias`` (default the champion)."""
    from jobs.scoring import main as scoring

    return scoring.run(context.days, settings=settings, spark=spark, alias=context.alias)


def _post_loan(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """Early warnings, watch list and loan classification of every snapshot (``jobs.post_loan.main.run``)."""
    from jobs.post_loan import main as post_loan

    return post_loan.run(context.days, settings=settings, spark=spark)


def _warning_backtest(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """The warning catalogue judged on the 12 month-ends observed by the snapshot (``warning_evaluation.run``).

    A snapshot with no matured month yet (the first year of features) returns ``matured: False``
    and nothing judged, so a monthly run early in a deployment succeeds instead of failing.
    """
    from jobs.post_loan.warning_evaluation import matured, run

    if not matured(spark, context.day, settings=settings):
        return {"snapshot_date": str(context.day), "matured": False, "rows": [], "targets": []}
    return {**run(context.day, settings=settings, spark=spark), "matured": True}


def _portfolio(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """Portfolio risk of the snapshot under the fund balance known on it (``jobs.portfolio.main.run``)."""
    from jobs.portfolio.main import run

    return run(context.day, settings=settings, spark=spark)


def _stress(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """Every configured stress scenario of the snapshot (``jobs.stress.main.run_all``)."""
    from jobs.stress.main import run_all

    return run_all(context.day, settings=settings, spark=spark)


def _model_monitoring(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """Monitoring of the model that scored the snapshot (``jobs.model_monitoring.main.run``)."""
    from jobs.model_monitoring import main as model_monitoring

    return model_monitoring.run(context.day, settings=settings, spark=spark)


def _report(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """The HTML report of the snapshot (``jobs.report.main.run``)."""
    from jobs.report.main import run

    return run(context.day, settings=settings, spark=spark)


# Maintenance ----------------------------------------------------------------------------------


def _retention(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """The layers' retention properties on the existing tables (``jobs.maintenance.main.apply_retention``)."""
    from jobs.maintenance import main as maintenance

    return maintenance.apply_retention(spark, settings=settings, tables=context.tables)


def _constraints(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """The gold tables' CHECK constraints from their value rules (``jobs.maintenance.main.ensure_constraints``)."""
    from jobs.maintenance import main as maintenance

    return maintenance.ensure_constraints(spark, settings=settings, tables=context.tables)


def _compaction(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """OPTIMIZE (Z-order or bin-packing) of what changed since the last one (``jobs.maintenance.main.compact``)."""
    from jobs.maintenance import main as maintenance

    return maintenance.compact(spark, settings=settings, tables=context.tables)


def _vacuum(context: RunContext, *, settings: Settings, spark: SparkSession) -> dict[str, Any]:
    """VACUUM with each table's retention, refused where a pin needs a file (``jobs.maintenance.main.vacuum``)."""
    from jobs.maintenance import main as maintenance

    return maintenance.vacuum(spark, settings=settings, tables=context.tables)


# the maintenance stages, in the order a run takes them: retention first, so that VACUUM uses it
MAINTENANCE = ("maintenance_retention", "maintenance_constraints", "maintenance_compaction", "maintenance_vacuum")

SILVER = FEATURE_SOURCES
FEATURES = ("enterprise_features", "default_labels")
# what the portfolio and the stress stages read: the loan ledger, the scores and the fund's balance
PORTFOLIO_READS = ("loans", "loan_balances", "enterprise_features", "risk_scores", "fund_statements")
PORTFOLIO_AFTER = ("score", ingest_stage_name("fund_statements"))
POST_LOAN = ("early_warnings", "watch_list", "loan_classification")

STAGES: tuple[Stage, ...] = (
    *(_ingest_stage(source) for source in SOURCES),
    Stage(
        name="features",
        run=_features,
        reads=SILVER,
        writes=(*FEATURES, "transaction_months", "transaction_counterparty_months"),
        after=tuple(ingest_stage_name(source) for source in SILVER),
    ),
    # training reads the features and labels and writes MLflow runs and registered versions, no table
    Stage(name="train", run=_train, reads=FEATURES, after=("features",)),
    Stage(name="promote", run=_promote, after=("train",), needs_spark=False),
    Stage(name="score", run=_score, reads=("enterprise_features",), writes=("risk_scores",), after=("promote",)),
    Stage(
        name="post_loan",
        run=_post_loan,
        reads=("loans", "loan_balances", "enterprise_features", "default_labels", "risk_scores"),
        writes=POST_LOAN,
        after=("score",),
    ),
    Stage(
        name="warning_backtest",
        run=_warning_backtest,
        reads=("loans", "loan_balances", "enterprise_features", "default_labels", "risk_scores"),
        after=("score",),
    ),
    # the fund's balance on D comes from fund_statements; a snapshot with no statement known falls
    # back to the profile's constant (jobs.portfolio.fund), so the stage also runs before any is ingested
    Stage(
        name="portfolio",
        run=_portfolio,
        reads=PORTFOLIO_READS,
        writes=("portfolio_risk", "portfolio_summary", "portfolio_metrics"),
        after=PORTFOLIO_AFTER,
    ),
    Stage(
        name="stress",
        run=_stress,
        reads=PORTFOLIO_READS,
        writes=("stress_results", "stress_migration"),
        after=PORTFOLIO_AFTER,
    ),
    Stage(
        name="model_monitoring",
        run=_model_monitoring,
        reads=("risk_scores", "enterprise_features", "default_labels"),
        writes=("model_monitoring", "monitoring_reference"),
        after=("score",),
    ),
    Stage(
        name="report",
        run=_report,
        reads=(
            "loans",
            "loan_balances",
            "enterprise_features",
            "default_labels",
            "risk_scores",
            *POST_LOAN,
            "portfolio_summary",
            "portfolio_metrics",
            "stress_results",
            "model_monitoring",
        ),
        after=("post_loan", "portfolio", "stress", "model_monitoring"),
    ),
    # Maintenance changes the tables' layout, properties and constraints, never their content:
    # it reads and writes no table in the sense of the other stages, and runs on its own schedule.
    Stage(name="maintenance_retention", run=_retention),
    Stage(name="maintenance_constraints", run=_constraints, after=("maintenance_retention",)),
    Stage(name="maintenance_compaction", run=_compaction, after=("maintenance_constraints",)),
    Stage(name="maintenance_vacuum", run=_vacuum, after=("maintenance_compaction",)),
)

NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)
REGISTRY: dict[str, Stage] = {stage.name: stage for stage in STAGES}
"""The stages :func:`run` runs, by name (the declaration; a unit test of a caller's orchestration
swaps in stages of the same names that record their calls)."""


def stage(name: str) -> Stage:
    """The declared stage ``name``.

    Raises:
        KeyError: for a name that is not declared.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown pipeline stage {name!r}; declared: {list(NAMES)}") from None


def run(name: str, context: RunContext, *, settings: Settings, spark: SparkSession | None) -> Any:
    """Run stage ``name`` on ``context`` with the caller's settings and Spark session.

    Raises:
        KeyError: for a name that is not declared.
        ValueError: when the stage needs Spark and ``spark`` is None.
    """
    declared = stage(name)
    if declared.needs_spark and spark is None:
        raise ValueError(f"stage {name} needs a Spark session")
    return declared.run(context, settings=settings, spark=spark)


def in_order(names: Iterable[str]) -> list[str]:
    """``names`` sorted by the declared order (each stage after the stages it follows).

    Raises:
        KeyError: for a name that is not declared.
    """
    chosen = set(names)
    for name in chosen:
        stage(name)
    return [name for name in NAMES if name in chosen]


def ingest_order(sources: Iterable[str]) -> list[str]:
    """The ingestion sources of ``sources`` in the declared ingestion order."""
    chosen = set(sources)
    unknown = chosen - set(SOURCES)
    if unknown:
        raise KeyError(f"unknown ingestion sources {sorted(unknown)}; declared: {list(SOURCES)}")
    return [source for source in SOURCES if source in chosen]
