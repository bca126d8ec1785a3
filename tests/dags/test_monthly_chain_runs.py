"""The monthly chain after scoring, run with ``dag.test()`` for one snapshot on a small lakehouse.

The lakehouse is the stress tests' one (tests/jobs/portfolio_data.py): 36 borrowers' features and
45 loans on DAY, scored by a scorecard trained and registered for this module, with the post-loan
tables of the month. ``portfolio_monthly`` and ``report_monthly`` then run for DAY as a backfill
would (the ``snapshot_date`` param); a second run of both must commit no Delta version and leave
the report file as it was.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from pyspark.sql import functions as F

from tests.jobs.portfolio_data import DAY, Loan, feature_values, place_frame, silver_ledger, train_champion

# about 11 min on the shared 2-core machine (a scorecard trained for stress, two runs of two DAGs)
pytestmark = pytest.mark.slow

MODEL = "chain_test_pd"
TABLES = (
    "portfolio_risk",
    "portfolio_summary",
    "portfolio_metrics",
    "stress_results",
    "stress_migration",
)


@pytest.fixture(scope="module")
def chain_env(tmp_path_factory, spark, airflow_home):
    """RISKPIPE_LAKEHOUSE and the report folder for this module, and the settings the tasks will load."""
    root = tmp_path_factory.mktemp("chain")
    profile = root / "profile.yaml"
    profile.write_text(f"report:\n  output_dir: {root / 'reports'}\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RISKPIPE_LAKEHOUSE", str(root / "lakehouse"))
        patch.setenv("RISKPIPE_PROFILE", str(profile))
        from riskpipe.core.config import load_settings

        yield load_settings(), root / "reports"


@pytest.fixture(scope="module")
def scored(spark, chain_env):
    """DAY scored by a registered champion, with its warnings, watch list and loan classes."""
    from jobs.post_loan import main as post_loan
    from jobs.scoring import main as scoring
    from riskpipe.core import io
    from schemas.registry import get

    local, _ = chain_env
    train_champion(spark, local, MODEL)
    rng, pick = np.random.default_rng(7), random.Random(7)
    values = feature_values(rng, 36)
    features = {
        b: {k: float(v[b]) if k != "court_defendant_cases_12m" else int(v[b]) for k, v in values.items()}
        for b in range(36)
    }
    loans = [
        Loan(
            f"L{i:02d}",
            i % 36,
            product=pick.choice(["Y_MODEL_WORKING_CAPITAL", "SME_WORKING_CAPITAL"]),
            outstanding=pick.uniform(2e5, 3e6),
            days_past_due=pick.choice([0] * 12 + [100]),
        )
        for i in range(45)
    ]
    places = place_frame(spark, {b: (f"county{b % 4}", f"industry{b % 3}") for b in range(36)}, features=features)
    io.append(places, "enterprise_features", settings=local)
    for table, frame in zip(("loans", "loan_balances"), silver_ledger(spark, loans), strict=True):
        io.append(frame, table, settings=local)
    # no month has matured by DAY here: the labels table exists and is empty
    io.append(get("default_labels").rows_to_df(spark, []), "default_labels", settings=local)
    scoring.run(DAY, settings=local, spark=spark, model_name=MODEL)
    post_loan.run([DAY], settings=local, spark=spark)
    return local


def _versions(spark, settings) -> dict[str, int]:
    from riskpipe.core import io

    return {table: io.version(spark, table, settings=settings) for table in TABLES}


def _run_chain(dagbag) -> None:
    for dag_id in ("portfolio_monthly", "report_monthly"):
        run = dagbag.dags[dag_id].test(run_conf={"snapshot_date": DAY.isoformat()})
        assert str(run.state) == "success", f"{dag_id}: {run.state}"


def test_the_chain_writes_the_month_once(dagbag, spark, chain_env, scored):
    from riskpipe.core import io

    local, reports = chain_env
    _run_chain(dagbag)
    for table in TABLES:
        rows = io.read(spark, table, settings=local).where(F.col("snapshot_date") == F.lit(DAY)).count()
        assert rows > 0, f"{table} has no row for {DAY}"
    report = reports / f"risk_report_{DAY.isoformat()}.html"
    assert report.is_file() and "portfolio" in report.read_text(encoding="utf-8").lower()
    versions, written = _versions(spark, local), report.stat().st_mtime_ns
    content = report.read_bytes()

    _run_chain(dagbag)
    assert _versions(spark, local) == versions
    assert report.stat().st_mtime_ns == written and report.read_bytes() == content
    assert sorted(p.name for p in reports.iterdir()) == [report.name]
