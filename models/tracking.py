"""Idempotent MLflow logging: a retried step resumes its run by key and never logs a metric twice.

A step (a training, an evaluation) is identified by a *run key* it derives from its inputs,
stored as the run tag ``riskpipe.run_key``. :func:`keyed_run` finds the latest run with that
key: a finished one is not repeated (``KeyedRun.finished``), an unfinished one (failed, killed)
is resumed, and otherwise a new run is started. :func:`log_metrics_once` logs only the metrics
the run does not have yet, so a retry after a crash between two logging calls adds nothing
twice.

Typical use::

    with keyed_run(experiment_id, run_key="train-features-v42", run_name="train") as run:
        if not run.finished:
            log_metrics_once(run.run_id, evaluate(...))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

RUN_KEY_TAG = "riskpipe.run_key"
FINISHED = "FINISHED"


@dataclass(frozen=True)
class KeyedRun:
    """The run of a key.

    Attributes:
        run_id: MLflow run id.
        finished: the run had already finished before this attempt (nothing to do).
        resumed: an unfinished earlier run of the key is continued by this attempt.
    """

    run_id: str
    finished: bool
    resumed: bool


def find_run(experiment_id: str, run_key: str):
    """Latest run of ``experiment_id`` tagged with ``run_key``, or None."""
    from mlflow import MlflowClient

    runs = MlflowClient().search_runs(
        [experiment_id],
        filter_string=f"tags.`{RUN_KEY_TAG}` = '{_quoted(run_key)}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def _quoted(value: str) -> str:
    if "'" in value:
        raise ValueError(f"run key may not contain a quote: {value!r}")
    return value


@contextlib.contextmanager
def keyed_run(experiment_id: str, *, run_key: str, run_name: str, nested: bool = False) -> Iterator[KeyedRun]:
    """Start, resume or skip the run of ``run_key`` (see the module docstring).

    A finished run is yielded without being reopened. Otherwise the run is active inside the
    block and ends FINISHED, or FAILED when the block raises.

    Args:
        nested: the run is a child of the active run (MLflow's ``nested=True``).
    """
    import mlflow

    previous = find_run(experiment_id, run_key)
    if previous is not None and previous.info.status == FINISHED:
        yield KeyedRun(previous.info.run_id, finished=True, resumed=False)
        return
    if previous is not None:
        context = mlflow.start_run(run_id=previous.info.run_id, nested=nested)
    else:
        context = mlflow.start_run(
            experiment_id=experiment_id, run_name=run_name, tags={RUN_KEY_TAG: run_key}, nested=nested
        )
    with context as run:
        yield KeyedRun(run.info.run_id, finished=False, resumed=previous is not None)


def log_metrics_once(run_id: str, metrics: Mapping[str, float]) -> dict[str, float]:
    """Log the ``metrics`` that run ``run_id`` does not have yet; returns what was logged."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient()
    known = client.get_run(run_id).data.metrics
    todo = {k: float(v) for k, v in metrics.items() if k not in known}
    if todo:
        from mlflow.utils.time import get_current_time_millis

        now = get_current_time_millis()
        client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in sorted(todo.items())])
    return todo
