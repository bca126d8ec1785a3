"""``riskpipe validate --version N``: the validation report of a registered model version.

The version's out-of-time sample is rebuilt from what training logged to MLflow (parent run
``data.source.*``: table, pinned Delta version, label table and version, split date; model run
``data.*``: columns and exclusion flags; :func:`jobs.model_monitoring.reference.training_data_config`),
read with the training code itself (:func:`models.data.load_training_data`, same selection, same
sort, same split) and scored by the registered pyfunc, so the report's figures are those of the
version as served. The report is :func:`models.validation.validation_report`; the files and their
logging to the version's run (``validation/``) are :mod:`models.validation_render`.

* Challenger: ``--challenger M``, or by default the other kind registered from the same training
  (same parent run), scored on the same rows.
* Oracle (simulated data only): the simulator's ``truth/latent_pd.parquet`` (``--truth PATH``;
  by default ``<landing_root>/truth/latent_pd.parquet`` when it exists) matched by enterprise and
  month.
"""

from __future__ import annotations

import ast
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from models.backtest import JeffreysConfig
from models.calibration import MasterScale
from models.config import DEFAULT_GRADE_BOUNDS, ModelConfig
from models.data import TrainingData
from models.evaluate import Evaluation, evaluate
from riskpipe.core.config import Settings, resolve_path

TRUTH_FILE = "latent_pd.parquet"


@dataclasses.dataclass
class Version:
    """A registered version as validation needs it: its pyfunc model, features and logged run."""

    name: str
    version: str
    kind: str
    run_id: str
    parent_run_id: str | None
    params: dict[str, str]
    metrics: dict[str, float]
    model: Any
    features: list[str]

    @property
    def label(self) -> str:
        return f"v{self.version} {self.kind}"


def load_version(mlflow_client: Any, name: str, version: str) -> Version:
    """The registered ``name`` v``version``: run params and metrics, the loaded pyfunc and its features."""
    import mlflow.pyfunc

    found = mlflow_client.get_model_version(name, str(version))
    run = mlflow_client.get_run(found.run_id)
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    features = list(model.metadata.get_input_schema().input_names())
    kind = found.tags.get("model_kind") or run.data.tags.get("model_kind", "")
    return Version(
        name=name,
        version=str(version),
        kind=kind,
        run_id=found.run_id,
        parent_run_id=run.data.tags.get("mlflow.parentRunId"),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        model=model,
        features=features,
    )


def sibling_version(mlflow_client: Any, version: Version) -> str | None:
    """The version registered from another model run of the same training (parent run), if any."""
    if not version.parent_run_id:
        return None
    found = []
    for mv in mlflow_client.search_model_versions(f"name = '{version.name}'"):
        if str(mv.version) == str(version.version) or not mv.run_id:
            continue
        parent = mlflow_client.get_run(mv.run_id).data.tags.get("mlflow.parentRunId")
        if parent == version.parent_run_id:
            found.append(int(mv.version))
    return str(max(found)) if found else None


def _scale(params: dict[str, str]) -> MasterScale:
    bounds = params.get("calibration.grade_bounds")
    return MasterScale(list(ast.literal_eval(bounds)) if bounds else list(DEFAULT_GRADE_BOUNDS))


def evaluate_version(
    version: Version, data: TrainingData, *, label_col: str, id_col: str, jeffreys: JeffreysConfig
) -> Evaluation:
    """Score the train and OOT samples with the version's pyfunc and evaluate as training did
    (same master scale, PSI bins and minimum grade count, read from the run's params; grades
    counted per obligor as ``jeffreys.unit`` says)."""
    params = version.params
    scored, samples = {}, {}
    for name, frame in (("train", data.train), ("oot", data.valid)):
        out = version.model.predict(frame[version.features])
        scored[name] = pd.DataFrame(
            {"y": frame[label_col].to_numpy(), "pd": out["pd"].to_numpy(float), "score": out["score"].to_numpy(float)}
        )
        samples[name] = frame
    iv = pd.DataFrame(
        [{"feature": k.removeprefix("iv."), "iv": v} for k, v in version.metrics.items() if k.startswith("iv.")],
        columns=["feature", "iv"],
    )
    return evaluate(
        scored,
        samples,
        features=version.features,
        scale=_scale(params),
        iv=iv,
        psi_bins=int(params.get("psi_bins", 10)),
        min_grade_count=int(params.get("calibration.min_grade_count", 30)),
        jeffreys=jeffreys,
        ids={"train": data.train[id_col].to_numpy(), "oot": data.valid[id_col].to_numpy()},
    )


def truth_path(settings: Settings, truth: str | None) -> Path | None:
    """The latent-PD file: ``truth`` (a file, or a folder holding ``latent_pd.parquet``), else the
    simulator's ``<landing_root>/truth/latent_pd.parquet`` when it exists, else None."""
    if truth:
        path = Path(truth)
        path = path / TRUTH_FILE if path.is_dir() else path
        if not path.exists():
            raise FileNotFoundError(f"no latent-PD table at {path}")
        return path
    default = Path(settings.landing_root) / "truth" / TRUTH_FILE
    return default if default.exists() else None


def read_truth(path: Path, periods: list[str]) -> pd.DataFrame:
    """``uscc``, ``period``, ``latent_pd_12m`` of the simulator's truth for the given ``YYYY-MM`` periods."""
    import pyarrow.parquet as pq

    table = pq.read_table(
        path, columns=["uscc", "period", "latent_pd_12m"], filters=[("period", "in", sorted(set(periods)))]
    )
    return table.to_pandas()


def _challenger_note(model: TrainingData, challenger: Version, config: Any) -> str | None:
    """A note when the challenger's training snapshots reach into the model's OOT sample."""
    split = challenger.params.get("data.split_date")
    first_oot = pd.to_datetime(model.valid[config.date_col]).min()
    if split and pd.Timestamp(split) > first_oot:
        return (
            f"{challenger.label} was trained on snapshots before {split}, which include part of this "
            "out-of-time sample: its figures here are partly in-sample."
        )
    return None


def default_output(settings: Settings, name: str, version: str) -> Path:
    folder = resolve_path(settings.report.output_dir)
    return Path(folder) / "validation" / f"{name}_v{version}"


def validate_version(
    version: str,
    *,
    config: ModelConfig,
    settings: Settings,
    spark: Any,
    challenger: str | None = None,
    truth: str | None = None,
    use_truth: bool = True,
    out: str | None = None,
    log: bool = True,
) -> dict[str, Any]:
    """Build, write and log the validation report of ``config.name`` v``version``.

    Args:
        challenger: version shown side by side (default: the other kind of the same training).
        truth: latent-PD file or folder (simulated data); ``use_truth=False`` leaves the oracle out.
        out: output folder (default ``<report.output_dir>/validation/<name>_v<version>``).
        log: log the files under ``validation/`` of the version's run, its key figures as metrics
            and its status as run and model-version tags.

    Returns:
        A summary: status, Gini with its interval, grades by light, minimum PD, oracle ratio, paths.
    """
    from jobs.model_monitoring.reference import training_data_config
    from models.data import load_training_data
    from models.registry import client
    from models.validation import latent_pd_for, validation_report
    from models.validation_render import log_report, write_report

    mlflow_client = client(config)
    validated = load_version(mlflow_client, config.name, str(version))
    challenger = str(challenger) if challenger else sibling_version(mlflow_client, validated)
    other = load_version(mlflow_client, config.name, challenger) if challenger else None
    features = list(dict.fromkeys(validated.features + (other.features if other else [])))
    data_config, described = training_data_config(
        settings, config.name, validated.version, features, mlflow_client=mlflow_client
    )
    data = load_training_data(data_config, spark=spark, settings=settings)
    label = data_config.label_col
    jeffreys = config.calibration.jeffreys
    evaluation = evaluate_version(validated, data, label_col=label, id_col=data_config.id_col, jeffreys=jeffreys)
    notes = []
    side = None
    if other is not None:
        side = (
            other.label,
            evaluate_version(other, data, label_col=label, id_col=data_config.id_col, jeffreys=jeffreys),
        )
        note = _challenger_note(data, other, data_config)
        notes += [note] if note else []
    latent = None
    path = truth_path(settings, truth) if use_truth else None
    if path is not None:
        periods = pd.to_datetime(data.valid[data_config.date_col]).dt.strftime("%Y-%m").unique().tolist()
        latent = latent_pd_for(
            data.valid, read_truth(path, periods), id_col=data_config.id_col, date_col=data_config.date_col
        )
    dates = pd.to_datetime(data.valid[data_config.date_col])
    info = {
        "model": {
            "name": config.name,
            "version": validated.version,
            "kind": validated.kind,
            "run_id": validated.run_id,
            "parent_run_id": validated.parent_run_id,
        },
        "data": {
            **{k: described[k] for k in ("table", "version", "label_table", "label_version", "split_date")},
            "oot_snapshots": f"{dates.min().date()}..{dates.max().date()}",
            "rows_oot": len(data.valid),
            "truth": str(path) if path else None,
        },
        "origin": "riskpipe validate",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    report = validation_report(
        evaluation,
        info=info,
        features=validated.features,
        config=config.validation,
        ids=data.valid[data_config.id_col].to_numpy(),
        challenger=side,
        latent_pd=latent,
        logged=validated.metrics,
    )
    report.notes.extend(notes)
    folder = Path(out) if out else default_output(settings, config.name, validated.version)
    paths = write_report(report, folder)
    if log:
        log_report(
            report,
            folder,
            run_id=validated.run_id,
            model_name=config.name,
            version=validated.version,
            mlflow_client=mlflow_client,
        )
    return summary(report, paths)


def summary(report: Any, paths: dict[str, Path]) -> dict[str, Any]:
    """The few figures ``riskpipe validate`` prints."""
    model = report.models.set_index("role").loc["model"]
    out = {
        "version": report.info["model"]["version"],
        "status": report.status,
        "gini": round(float(model["gini"]), 4),
        "gini_ci": [round(float(model["gini_lower"]), 4), round(float(model["gini_upper"]), 4)],
        "grades": {k: int(model[f"grades_{k}"]) for k in ("green", "amber", "red")},
        "min_pd": float(report.pd_floor["min_pd"]),
        "rows_below_pd_floor": int(report.pd_floor["rows_below"]),
        "html": str(paths["html"]),
    }
    if report.oracle and "ratio" in report.oracle:
        out.update(
            oracle_gini=round(report.oracle["gini"], 4),
            oracle_ratio=round(report.oracle["ratio"], 4),
            oracle_ratio_ci=[round(report.oracle["ratio_lower"], 4), round(report.oracle["ratio_upper"], 4)],
        )
    challengers = report.models[report.models["role"] == "challenger"]
    if len(challengers):
        out["challenger"] = {
            "label": challengers["label"].iloc[0],
            "gini": round(float(challengers["gini"].iloc[0]), 4),
        }
    return out
