"""Run one ingestion DAG through ``dag.test()`` and SIGKILL the process in the middle of a task.

``python -m tests.faults.killable_task DAG_ID INTERVAL_START`` loads ``dags/``, wraps
``jobs.ingest.batch._publish`` so that the first batch kills its own process right after the silver
MERGE has committed (before the manifest records the files as done: the worst moment, the data
is published but the bookkeeping says the run never finished) and runs the DAG for the data
interval starting at ``INTERVAL_START``. The process never returns: the task instance stays
``running`` in the metadata DB, as a worker lost mid-task leaves it.

The caller provides the environment: ``AIRFLOW_HOME`` (a migrated metadata DB),
``RISKPIPE_LAKEHOUSE``, ``RISKPIPE_LANDING`` and ``RISKPIPE_PROFILE``.
"""

from __future__ import annotations

import os
import signal
import sys

KILLED_AFTER = "silver MERGE committed"


def main(argv: list[str]) -> int:
    dag_id, interval_start = argv[0], argv[1]
    from riskpipe.airflow_env import DAGS_FOLDER, apply_to_process

    apply_to_process()
    from airflow.dag_processing.dagbag import DagBag

    import jobs.ingest.batch
    from dags._common import logical_date_for

    publish = jobs.ingest.batch._publish

    def publish_then_die(*args, **kwargs):
        publish(*args, **kwargs)
        print(f"killing myself: {KILLED_AFTER}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    jobs.ingest.batch._publish = publish_then_die
    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags[dag_id]
    dag.test(logical_date=logical_date_for(dag, interval_start))
    print("the DAG run finished: the kill did not happen", flush=True)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
