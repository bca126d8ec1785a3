"""Weekly Delta maintenance of every lakehouse table: retention, constraints, compaction, VACUUM.

Sunday 03:00 UTC (no data interval: each run maintains the tables as they are). Four tasks, each a
pipeline stage, one after the other and all in the Delta writer pool (they commit to every table):

1. ``maintenance_retention``: each layer's ``delta.logRetentionDuration`` and
   ``delta.deletedFileRetentionDuration`` (``maintenance.retention`` of the profile) on the tables;
2. ``maintenance_constraints``: a CHECK constraint on every gold table for each value rule declared
   with its columns in ``schemas/``;
3. ``maintenance_compaction``: OPTIMIZE of the partitions written since the last run, Z-ordered by
   the table's declared columns, leaving the partitions a pinned version needs;
4. ``maintenance_vacuum``: VACUUM with each table's retention, refused (naming the pin) where it
   would delete a file that a registered model's training data or a scored snapshot's features need.

A refusal fails its task at once, without retries: a person has to release the pin or fix the rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import CronTriggerTimetable, dag, task

from dags._common import DEFAULT_ARGS, failing_for_good, small_summary, task_session
from riskpipe import pipeline
from riskpipe.airflow_env import DELTA_WRITER_POOL

WEEKLY = CronTriggerTimetable("0 3 * * 0", timezone="UTC")
TAGS = ["riskpipe", "maintenance"]


@dag(
    dag_id="delta_maintenance",
    schedule=WEEKLY,
    start_date=datetime(2019, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=dict(DEFAULT_ARGS),
    tags=TAGS,
    doc_md=__doc__,
)
def delta_maintenance():
    @task(task_id="maintenance_retention", pool=DELTA_WRITER_POOL)
    def retention() -> dict[str, Any]:
        settings, spark = task_session("riskpipe-maintenance")
        with failing_for_good("retention"):
            return small_summary(
                pipeline.run("maintenance_retention", pipeline.RunContext(), settings=settings, spark=spark)
            )

    @task(task_id="maintenance_constraints", pool=DELTA_WRITER_POOL)
    def constraints() -> dict[str, Any]:
        settings, spark = task_session("riskpipe-maintenance")
        with failing_for_good("CHECK constraints"):
            return small_summary(
                pipeline.run("maintenance_constraints", pipeline.RunContext(), settings=settings, spark=spark)
            )

    @task(task_id="maintenance_compaction", pool=DELTA_WRITER_POOL)
    def compaction() -> dict[str, Any]:
        settings, spark = task_session("riskpipe-maintenance")
        with failing_for_good("compaction"):
            return small_summary(
                pipeline.run("maintenance_compaction", pipeline.RunContext(), settings=settings, spark=spark)
            )

    @task(task_id="maintenance_vacuum", pool=DELTA_WRITER_POOL)
    def vacuum() -> dict[str, Any]:
        settings, spark = task_session("riskpipe-maintenance")
        with failing_for_good("VACUUM"):
            return small_summary(
                pipeline.run("maintenance_vacuum", pipeline.RunContext(), settings=settings, spark=spark)
            )

    retention() >> constraints() >> compaction() >> vacuum()


dag = delta_maintenance()

if __name__ == "__main__":
    dag.test()
