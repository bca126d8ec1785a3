"""The DAG tasks run stages declared in riskpipe/pipeline.py, wired in the declared dependencies.

Which task runs which stage is read from the DAG files' source (``ast``): a TaskFlow task whose body
calls ``pipeline.run("<stage>", ...)``, and the ingestion tasks of ``ingest_task("<source>")``. The
DagBag then gives the tasks and their upstream tasks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from riskpipe import pipeline
from riskpipe.airflow_env import DAGS_FOLDER

DAG_FILES = sorted(p for p in Path(DAGS_FOLDER).glob("*.py") if not p.name.startswith("_"))
# tasks that only wire: which snapshot a run works on, and the retraining branch
WIRING_TASKS = {"snapshot_date", "snapshot_dates", "drift_decision", "trigger_retraining", "no_retraining"}
# (file, module) of the imports of jobs or models a DAG file may make, each with its reason: none
ALLOWED_IMPORTS: set[tuple[str, str]] = set()


def _constants(tree: ast.Module) -> dict[str, str]:
    """The module's string constants (``NAME = "..."`` and ``A, B = "...", "..."``)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            pairs = (
                zip(target.elts, value.elts, strict=False)
                if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
                else [(target, value)]
            )
            for name, constant in pairs:
                text = constant.value if isinstance(constant, ast.Constant) else None
                if isinstance(name, ast.Name) and isinstance(text, str):
                    found[name.id] = text
    return found


def _task_id(function: ast.FunctionDef, constants: dict[str, str]) -> str | None:
    """The task id of a TaskFlow function (``@task``, ``@task(task_id=...)``, ``@task.branch(...)``)."""
    for decorator in function.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call else decorator
        if isinstance(target, ast.Attribute):
            target = target.value
        if isinstance(target, ast.Name) and target.id == "task":
            for keyword in call.keywords if call else []:
                if keyword.arg == "task_id":
                    if isinstance(keyword.value, ast.Name):
                        return constants[keyword.value.id]
                    assert isinstance(keyword.value, ast.Constant), ast.unparse(keyword.value)
                    return str(keyword.value.value)
            return function.name
    return None


def _pipeline_runs(node: ast.AST) -> list[ast.Call]:
    return [
        call
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "run"
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id == "pipeline"
    ]


def stage_tasks(path: Path) -> dict[str, list[str]]:
    """``{task_id: [stage names]}`` of the tasks of the DAG file ``path`` that run pipeline stages."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = _constants(tree)
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and (task_id := _task_id(node, constants)) is not None:
            runs = _pipeline_runs(node)
            for call in runs:
                assert isinstance(call.args[0], ast.Constant), f"{path.name}:{call.lineno}: name the stage literally"
            if runs:
                found[task_id] = [str(call.args[0].value) for call in runs]  # type: ignore[attr-defined]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ingest_task":
            source = node.args[0].value  # type: ignore[attr-defined]
            found[f"ingest_{source}"] = [pipeline.ingest_stage_name(source)]
    return found


def test_every_dag_task_that_runs_a_stage_names_a_declared_stage():
    tasks = {path.name: stage_tasks(path) for path in DAG_FILES}
    named = {name for by_task in tasks.values() for names in by_task.values() for name in names}
    assert named, "no DAG task runs a pipeline stage"
    assert named <= set(pipeline.NAMES), sorted(named - set(pipeline.NAMES))
    # every ingestion stage has its DAG task, and so has every monthly gold stage the DAGs schedule
    assert {n for n in pipeline.NAMES if n.startswith("ingest_")} <= named
    assert set(pipeline.NAMES) - {n for n in pipeline.NAMES if n.startswith("ingest_")} <= named


def test_the_ingestion_runner_of_the_dags_runs_the_ingestion_stage():
    source = (Path(DAGS_FOLDER) / "_common.py").read_text(encoding="utf-8")
    (call,) = _pipeline_runs(ast.parse(source))
    assert ast.unparse(call.args[0]) == "pipeline.ingest_stage_name(source)"


def test_dag_files_call_no_job_themselves():
    found = set()
    for path in Path(DAGS_FOLDER).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found |= {(path.name, m) for m in modules if m.split(".")[0] in ("jobs", "models")}
    assert found == ALLOWED_IMPORTS


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_stage_tasks_exist_and_wait_for_the_stages_they_follow(dagbag, path):
    (dag,) = [d for d in dagbag.dags.values() if Path(d.fileloc).resolve() == path.resolve()]
    tasks = stage_tasks(path)
    assert set(tasks) <= set(dag.task_ids), sorted(set(tasks) - set(dag.task_ids))
    assert set(dag.task_ids) - set(tasks) <= WIRING_TASKS, sorted(set(dag.task_ids) - set(tasks) - WIRING_TASKS)
    for task_id, names in tasks.items():
        upstream = dag.get_task(task_id).get_flat_relative_ids(upstream=True)
        for other_id, other_names in tasks.items():
            follows = any(o in pipeline.stage(n).after for n in names for o in other_names)
            if follows:
                assert other_id in upstream, f"{dag.dag_id}: {task_id} must wait for {other_id}"
            if other_id in upstream:
                assert all(pipeline.NAMES.index(o) < pipeline.NAMES.index(n) for n in names for o in other_names), (
                    f"{dag.dag_id}: {task_id} runs before {other_id} in the declaration"
                )
