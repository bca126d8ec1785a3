"""The training DAG parses without heavy imports and carries retries, tags and params."""

from __future__ import annotations

import subprocess
import sys

from riskpipe.airflow_env import DAGS_FOLDER, airflow_env


def test_train_models_dag_parses_light(tmp_path):
    probe = (
        "import sys, runpy\n"
        f"dag = runpy.run_path('{DAGS_FOLDER / 'train_models.py'}')['dag']\n"
        "heavy = [m for m in ('pyspark', 'mlflow', 'lightgbm', 'optbinning', 'pandas', 'models.train')\n"
        "         if m in sys.modules]\n"
        "tasks = {t.task_id: (t.retries, sorted(t.upstream_task_ids)) for t in dag.tasks}\n"
        "print(dag.dag_id, sorted(dag.tags), sorted(dag.params.keys()), tasks, heavy)\n"
    )
    env = airflow_env({"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    done = subprocess.run([sys.executable, "-c", probe], env=env, text=True, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = done.stdout.strip().splitlines()[-1]
    assert line == (
        "train_models ['models', 'riskpipe'] ['data_version', 'promote', 'split_date', 'table'] "
        "{'train': (2, []), 'promote': (2, ['train'])} []"
    ), line
