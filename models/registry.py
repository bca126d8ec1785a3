"""Model registry: versions, the ``champion``/``challenger`` aliases, the promotion gate, rollback.

* ``challenger``: the candidate of the latest training (the ``models.candidate`` kind, or the one
  ``auto`` chose: ``TrainResult.candidate_kind``, parent-run tag ``candidate.kind``).
* ``champion``: the version production scoring loads (``models:/<name>@champion``). Only
  :func:`promote` (after the gate passes) and :func:`rollback` move it. Stages are not used.

Every decision is recorded as model-version tags (``promotion.decision``, ``promotion.reasons``,
``promotion.champion_before``, ``promotion.checked_at``; ``rollback.*``), so the registry is
the audit trail of which model scored which month and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.config import GateConfig, ModelConfig

CHAMPION, CHALLENGER = "champion", "challenger"


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str]
    checks: dict[str, bool] = field(default_factory=dict)


def promotion_gate(
    candidate: dict[str, float], champion: dict[str, float | None] | None, thresholds: GateConfig
) -> GateDecision:
    """Decide whether ``candidate`` may replace ``champion``.

    Args:
        candidate: metrics of the candidate: ``oot_auc``, ``psi_score``, ``oot_grades_red`` (grades
            failing the Jeffreys test at the red level, out of time), ``oot_overall_red`` (the same
            test of all grades pooled) and, when ``max_calibration_error`` is set, ``oot_ece``.
        champion: ``{"oot_auc": ...}`` of the champion on a comparable OOT sample, or None
            when there is no champion yet.
        thresholds: the ``models.gate`` section.

    Returns:
        GateDecision; ``reasons`` has one readable line per check, failed or passed.
    """
    checks: dict[str, bool] = {}
    reasons: list[str] = []

    def check(name: str, value: float | None, ok: bool, text: str) -> None:
        checks[name] = value is not None and ok
        detail = text if value is not None else "metric missing"
        reasons.append(f"{'PASS' if checks[name] else 'FAIL'} {name}: {detail}")

    auc, ece, psi = (candidate.get(k) for k in ("oot_auc", "oot_ece", "psi_score"))
    check(
        "min_auc",
        auc,
        auc is not None and auc >= thresholds.min_auc,
        f"OOT AUC {auc or 0:.4f} vs minimum {thresholds.min_auc:.4f}",
    )
    if champion is not None:
        ref = champion.get("oot_auc")
        floor = (ref or 0) - thresholds.max_auc_drop
        check(
            "auc_vs_champion",
            ref,
            auc is not None and ref is not None and auc >= floor,
            f"OOT AUC {auc or 0:.4f} vs champion {ref or 0:.4f} - margin {thresholds.max_auc_drop:.4f}",
        )
    if thresholds.max_calibration_error is not None:
        check(
            "calibration",
            ece,
            ece is not None and ece <= thresholds.max_calibration_error,
            f"OOT calibration error (ECE by grade) {ece or 0:.4f} vs maximum {thresholds.max_calibration_error:.4f}",
        )
    level_red = candidate.get("oot_overall_red")
    check(
        "calibration_overall",
        level_red,
        level_red is not None and level_red == 0,
        f"OOT mean PD {candidate.get('oot_overall_mean_pd') or 0:.2%} vs default rate "
        f"{candidate.get('oot_overall_default_rate') or 0:.2%}, all grades pooled: "
        f"{'red' if level_red else 'not red'} in the Jeffreys test",
    )
    check(
        "stability",
        psi,
        psi is not None and psi < thresholds.max_score_psi,
        f"score PSI train vs OOT {psi or 0:.4f} vs limit {thresholds.max_score_psi:.4f}",
    )
    red, tested = candidate.get("oot_grades_red"), candidate.get("oot_grades_tested")
    check(
        "calibration_by_grade",
        red,
        red is not None and red <= thresholds.max_red_grades,
        f"{red or 0:.0f} of {tested or 0:.0f} grades red in the OOT Jeffreys test vs maximum "
        f"{thresholds.max_red_grades}",
    )
    return GateDecision(passed=all(checks.values()), reasons=reasons, checks=checks)


def client(config: ModelConfig) -> Any:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(config.tracking_uri)
    mlflow.set_registry_uri(config.tracking_uri)
    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.tracking_uri)


def _is_local_store(uri: str) -> bool:
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def ensure_experiment(config: ModelConfig) -> str:
    """Experiment id of ``config.experiment``; created with ``artifact_root`` on a local store.

    A tracking server decides its own artifact location (``--artifacts-destination``).
    """
    mlflow_client = client(config)
    found = mlflow_client.get_experiment_by_name(config.experiment)
    if found is not None:
        return found.experiment_id
    location = None
    if config.artifact_root and _is_local_store(config.tracking_uri):
        root = config.artifact_root
        location = root if "://" in root or root.startswith("file:") else Path(root).resolve().as_uri()
    return mlflow_client.create_experiment(config.experiment, artifact_location=location)


def register_version(config: ModelConfig, model_uri: str, *, run_id: str, tags: dict[str, str]) -> str:
    """Register ``model_uri`` as a new version of ``config.name``; return the version."""
    import mlflow

    client(config)
    version = mlflow.register_model(model_uri, config.name, tags={**tags, "run_id": run_id})
    return str(version.version)


def version_of_run(config: ModelConfig, run_id: str) -> str | None:
    """The version of ``config.name`` registered from run ``run_id`` (the latest), or None."""
    found = client(config).search_model_versions(f"name = '{config.name}' and run_id = '{run_id}'")
    return str(max(int(v.version) for v in found)) if found else None


def alias_version(config: ModelConfig, alias: str) -> str | None:
    """Version behind ``alias``, or None when the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client(config).get_model_version_by_alias(config.name, alias).version)
    except MlflowException:
        return None


def champion_version(config: ModelConfig) -> str | None:
    return alias_version(config, CHAMPION)


def set_alias(config: ModelConfig, alias: str, version: str) -> None:
    client(config).set_registered_model_alias(config.name, alias, str(version))


def version_metrics(config: ModelConfig, version: str) -> tuple[dict[str, float], dict[str, str]]:
    """``(metrics, run tags)`` of the run that produced ``version``."""
    mlflow_client = client(config)
    run = mlflow_client.get_run(mlflow_client.get_model_version(config.name, str(version)).run_id)
    return dict(run.data.metrics), dict(run.data.tags)


def _tag(config: ModelConfig, version: str, tags: dict[str, str]) -> None:
    mlflow_client = client(config)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(config.name, str(version), key, str(value)[:4900])


def _champion_reference(config: ModelConfig, champion: str, metrics: dict, tags: dict) -> dict[str, float | None]:
    """The champion's OOT AUC, measured on the candidate's OOT sample when training did so."""
    if tags.get("benchmark.champion_version") == champion and "champion_oot_auc" in metrics:
        return {"oot_auc": metrics["champion_oot_auc"]}
    return {"oot_auc": version_metrics(config, champion)[0].get("oot_auc")}


def promote(config: ModelConfig, version: str | None = None) -> GateDecision:
    """Run the gate for ``version`` (default: ``@challenger``) and move ``@champion`` if it passes.

    Raises:
        ValueError: when there is no version to promote.
    """
    candidate = str(version) if version is not None else alias_version(config, CHALLENGER)
    if candidate is None:
        raise ValueError(f"no version given and {config.name}@{CHALLENGER} does not exist; train first")
    champion = champion_version(config)
    if champion == candidate:
        return GateDecision(True, [f"version {candidate} already is {CHAMPION}"], {})
    metrics, tags = version_metrics(config, candidate)
    reference = _champion_reference(config, champion, metrics, tags) if champion else None
    decision = promotion_gate(metrics, reference, config.gate)
    _tag(
        config,
        candidate,
        {
            "promotion.decision": "promoted" if decision.passed else "rejected",
            "promotion.reasons": "; ".join(decision.reasons),
            "promotion.champion_before": champion or "none",
            "promotion.checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    if decision.passed:
        set_alias(config, CHAMPION, candidate)
        if champion:
            _tag(config, champion, {"promotion.replaced_by": candidate})
        if alias_version(config, CHALLENGER) == candidate:
            client(config).delete_registered_model_alias(config.name, CHALLENGER)
    return decision


def rollback(config: ModelConfig, to_version: str) -> str | None:
    """Point ``@champion`` back at ``to_version`` (no gate: an operator's decision, recorded).

    Returns:
        The version that was champion before, or None.
    """
    mlflow_client = client(config)
    mlflow_client.get_model_version(config.name, str(to_version))  # raises for an unknown version
    previous = champion_version(config)
    mlflow_client.set_registered_model_alias(config.name, CHAMPION, str(to_version))
    _tag(
        config,
        str(to_version),
        {
            "rollback.from_version": previous or "none",
            "rollback.at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return previous


def list_versions(config: ModelConfig) -> list[dict[str, Any]]:
    """One dict per version: version, kind, aliases, oot_auc, oot_ece, psi_score, decision."""
    mlflow_client = client(config)
    # search results do not carry aliases; the registered model does (alias -> version)
    by_version: dict[str, list[str]] = {}
    for alias, version in (mlflow_client.get_registered_model(config.name).aliases or {}).items():
        by_version.setdefault(str(version), []).append(alias)
    rows = []
    for mv in mlflow_client.search_model_versions(f"name = '{config.name}'"):
        metrics = mlflow_client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        rows.append(
            {
                "version": int(mv.version),
                "kind": mv.tags.get("model_kind", ""),
                "aliases": ",".join(sorted(by_version.get(str(mv.version), []))),
                "oot_auc": metrics.get("oot_auc"),
                "oot_ece": metrics.get("oot_ece"),
                "psi_score": metrics.get("psi_score"),
                "decision": mv.tags.get("promotion.decision", ""),
                "data_version": mv.tags.get("data.version", ""),
            }
        )
    return sorted(rows, key=lambda r: r["version"])


def data_pins(config: ModelConfig) -> list[dict[str, Any]]:
    """The data every registered version of the model was trained on: one dict per version and table.

    Keys: ``version``, ``aliases``, ``table`` and ``table_version`` (the Delta version read). The
    training table comes from the version's ``data.table`` tag, else its run's, else the configured
    one (versions registered before the tag); the label table from ``data.label_table``. A version
    without a ``data.version`` tag pins nothing. No registered model: ``[]``.
    """
    from mlflow.exceptions import MlflowException

    mlflow_client = client(config)
    by_version: dict[str, list[str]] = {}
    try:
        aliases = mlflow_client.get_registered_model(config.name).aliases or {}
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise  # an unreachable or broken store: pins unknown, nothing may be vacuumed
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    pins = []
    for mv in mlflow_client.search_model_versions(f"name = '{config.name}'"):
        tags = dict(mv.tags or {})
        if not tags.get("data.table") and mv.run_id:
            tags = {**mlflow_client.get_run(mv.run_id).data.tags, **tags}
        pairs = [
            (tags.get("data.table") or config.data.table, tags.get("data.version")),
            (tags.get("data.label_table"), tags.get("data.label_version")),
        ]
        for table, version in pairs:
            if table and version not in (None, "", "None"):
                pins.append(
                    {
                        "version": str(mv.version),
                        "aliases": sorted(by_version.get(str(mv.version), [])),
                        "table": str(table),
                        "table_version": int(str(version)),
                    }
                )
    return sorted(pins, key=lambda p: (int(p["version"]), p["table"]))
