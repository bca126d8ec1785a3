"""The stage declaration (riskpipe/pipeline.py) is consistent, and the demo, the end-to-end fixture and
the bench run its stages in the declared order.

The callers are run with a stage registry whose stages keep the declared names, tables and
dependencies but record their calls instead of running a job (no Spark): what is checked is the
orchestration, which stage each caller runs, on what, and in which order.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from riskpipe import pipeline
from riskpipe.pipeline import RunContext

NO_SPARK_NEEDED = object()  # stands for the caller's session: the recording stages never use it


class Anything(dict):
    """A stage's summary as the callers print it: every key and attribute is another empty summary."""

    def __missing__(self, key: str) -> Anything:
        return Anything()

    def __getattr__(self, name: str) -> Anything:
        if name.startswith("_"):
            raise AttributeError(name)
        return Anything()


@pytest.fixture
def recorded(monkeypatch) -> list[tuple[str, RunContext]]:
    """Replace every declared stage's job by one that records ``(name, context)``."""
    calls: list[tuple[str, RunContext]] = []

    def recorder(name: str):
        def run(context: RunContext, *, settings: Any, spark: Any) -> Anything:
            calls.append((name, context))
            return Anything()

        return run

    stages = {stage.name: dataclasses.replace(stage, run=recorder(stage.name)) for stage in pipeline.STAGES}
    monkeypatch.setattr(pipeline, "REGISTRY", stages)
    return calls


@pytest.fixture
def local(settings, tmp_path):
    """The test settings on an empty lakehouse and an empty landing folder (no court events)."""
    (tmp_path / "landing" / "court").mkdir(parents=True)
    (tmp_path / "landing" / "court" / "events.jsonl").write_text("", encoding="utf-8")
    return settings.replace(lakehouse_root=str(tmp_path / "lakehouse"), landing_root=str(tmp_path / "landing"))


def names(calls: list[tuple[str, RunContext]]) -> list[str]:
    return [name for name, _ in calls]


def contexts(calls: list[tuple[str, RunContext]], name: str) -> list[RunContext]:
    return [context for called, context in calls if called == name]


def assert_declared_order(ran: list[str]) -> None:
    """Each stage ran after every stage declared before it that the caller also ran."""
    positions = [pipeline.NAMES.index(name) for name in ran]
    assert positions == sorted(positions), ran


# The declaration ----------------------------------------------------------------------------


def test_stage_names_are_unique_and_each_follows_only_stages_declared_before_it():
    assert len(set(pipeline.NAMES)) == len(pipeline.NAMES)
    for index, stage in enumerate(pipeline.STAGES):
        assert set(stage.after) <= set(pipeline.NAMES[:index]), stage.name


def test_reads_and_writes_name_tables_declared_in_schemas():
    from schemas.registry import all_tables

    declared = {spec.name for spec in all_tables()}
    for stage in pipeline.STAGES:
        assert set(stage.reads) <= declared, (stage.name, sorted(set(stage.reads) - declared))
        assert set(stage.writes) <= declared, (stage.name, sorted(set(stage.writes) - declared))


def _upstream(name: str) -> set[str]:
    found: set[str] = set()
    todo = list(pipeline.stage(name).after)
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(pipeline.stage(current).after)
    return found


def test_every_table_a_stage_reads_is_written_by_a_stage_it_follows():
    for stage in pipeline.STAGES:
        written = {table for name in _upstream(stage.name) for table in pipeline.stage(name).writes}
        assert set(stage.reads) <= written, (stage.name, sorted(set(stage.reads) - written))


def test_each_silver_table_has_its_ingestion_stage_and_the_gold_tables_their_writer():
    from schemas.registry import all_tables

    writers = {table: stage.name for stage in pipeline.STAGES for table in stage.writes}
    for spec in all_tables("silver"):
        assert writers[spec.name] == pipeline.ingest_stage_name(spec.name)
    assert writers["risk_scores"] == "score" and writers["enterprise_features"] == "features"


def test_in_order_sorts_by_the_declaration_and_rejects_unknown_stages():
    assert pipeline.in_order(["report", "score", "ingest_loans", "features"]) == [
        "ingest_loans",
        "features",
        "score",
        "report",
    ]
    with pytest.raises(KeyError, match="unknown pipeline stage 'scoring'"):
        pipeline.in_order(["scoring"])
    assert pipeline.ingest_order(["loans", "court_events", "enterprises"]) == ["enterprises", "court_events", "loans"]


def test_run_refuses_a_stage_without_the_spark_session_it_needs(recorded, settings):
    with pytest.raises(ValueError, match="features needs a Spark session"):
        pipeline.run("features", RunContext(snapshots=("2021-06-30",)), settings=settings, spark=None)
    pipeline.run("promote", RunContext(version="3"), settings=settings, spark=None)
    assert recorded == [("promote", RunContext(version="3"))]


@pytest.mark.parametrize(
    ("context", "attribute", "message"),
    [
        (RunContext(), "day", "one snapshot"),
        (RunContext(snapshots=("2021-05-31", "2021-06-30")), "day", "one snapshot"),
        (RunContext(), "days", "at least one snapshot"),
        (RunContext(snapshots=("2021-06-30",)), "bounds", "data interval"),
    ],
)
def test_a_context_without_what_its_stage_works_on_is_refused(context, attribute, message):
    with pytest.raises(ValueError, match=message):
        getattr(context, attribute)


# The callers --------------------------------------------------------------------------------


def test_sim_pipeline_fixture_runs_ingestion_features_training_and_the_gate_in_order(recorded, local):
    from riskpipe.testing.pipeline import SIM_SOURCES, run_stages

    model = {"name": "sme_pd_sim", "data": {"split_date": "2020-01-01"}}
    ran = run_stages(NO_SPARK_NEEDED, local, start="2019-01", months=30, sources=tuple(SIM_SOURCES), model=model)

    ingestion = [pipeline.ingest_stage_name(s) for s in pipeline.SOURCES]
    assert names(recorded) == [*ingestion, "features", "train", "promote"]
    assert_declared_order(names(recorded))
    # one interval over the window, the last monthly delivery included
    assert {c.interval for c in contexts(recorded, "ingest_loans")} == {(dt.date(2019, 1, 1), dt.date(2021, 8, 1))}
    (features,) = contexts(recorded, "features")
    assert (
        features.full
        and features.snapshots[0] == dt.date(2019, 7, 31)
        and features.snapshots[-1] == dt.date(2021, 6, 30)
    )
    assert list(features.snapshots) == ran.snapshots
    assert contexts(recorded, "train") == contexts(recorded, "promote") == [RunContext(model=model)]


def test_sim_pipeline_fixture_ingests_only_the_simulated_sources(recorded, local):
    from riskpipe.testing.pipeline import run_stages

    run_stages(NO_SPARK_NEEDED, local, start="2019-01", months=30, sources=("tax", "court"), model={})

    ingested = ["ingest_enterprises", "ingest_tax_filings", "ingest_tax_ratings", "ingest_court_events"]
    assert names(recorded) == [*ingested, "features", "train", "promote"]


def test_demo_steps_run_the_declared_stages_in_order(recorded, local):
    """The demo's in-process steps, in the order ``_demo`` runs them (the Airflow runs in between
    are other processes running the same stages)."""
    from riskpipe.commands import demo

    args = argparse.Namespace(enterprises=50, months=48, start="2018-01", seed=demo.DEMO_SEED)
    last = dt.date(2021, 12, 31)
    demo._ingest_history(args, local, NO_SPARK_NEEDED)
    demo._features(args, local, NO_SPARK_NEEDED)
    demo._train_and_promote(args, local, NO_SPARK_NEEDED)
    demo._score_history(args, local, NO_SPARK_NEEDED)
    demo._warning_targets(demo._warning_backtest(last, local, NO_SPARK_NEEDED))
    demo._portfolio_and_report(args, local, NO_SPARK_NEEDED)

    ran = names(recorded)
    assert ran == [
        *(pipeline.ingest_stage_name(s) for s in pipeline.SOURCES),
        "features",
        "train",
        "promote",
        "score",
        "post_loan",
        "warning_backtest",
        "portfolio",
        "stress",
        "model_monitoring",
        "report",
    ]
    assert_declared_order(ran)
    # an empty landing folder is one batch per source over the whole window
    assert contexts(recorded, "ingest_tax_filings") == [RunContext(interval=(dt.date(2018, 1, 1), dt.date(2022, 1, 1)))]
    (features,) = contexts(recorded, "features")
    assert features.full and len(features.snapshots) == 36
    assert (features.snapshots[0], features.snapshots[-1]) == (dt.date(2019, 1, 31), last)
    assert contexts(recorded, "train") == [RunContext(model={"data": {"split_date": "2020-07-01"}})]
    # three years but the last month (the DAG scores it): the warnings' back-test needs the year before
    # its window scored
    (scored,) = contexts(recorded, "score")
    assert (scored.snapshots[0], scored.snapshots[-1], len(scored.snapshots)) == (
        dt.date(2019, 1, 31),
        dt.date(2021, 11, 30),
        35,
    )
    (monitored,) = contexts(recorded, "post_loan")
    assert (monitored.snapshots[0], len(monitored.snapshots)) == (dt.date(2021, 1, 31), 11)
    for name in ("warning_backtest", "portfolio", "stress", "model_monitoring", "report"):
        assert contexts(recorded, name) == [RunContext(snapshots=(last,))], name


def test_bench_ingests_every_source_in_the_declared_order_one_batch_at_a_time(recorded, local, monkeypatch, tmp_path):
    from riskpipe.bench import stages
    from riskpipe.bench.checkpoint import Checkpoint

    monkeypatch.setenv("RISKPIPE_COURT_API_TOKEN", "bench-test-token")
    args = argparse.Namespace(enterprises=50, months=36, start=stages.BENCH_START, seed=1)
    checkpoint = Checkpoint(tmp_path / "bench", 50, 36)

    stages._ingest(args, Path(local.landing_root), checkpoint, local, NO_SPARK_NEEDED)

    assert names(recorded) == [pipeline.ingest_stage_name(s) for s in pipeline.SOURCES]
    assert [b["key"] for b in checkpoint.data["batches"]][:2] == [
        "enterprises 2018-01-01..2021-01-01",
        "tax_filings 2018-01-01..2021-01-01",
    ]
    assert "ingest" in checkpoint.stages and "silver" in checkpoint.stages
