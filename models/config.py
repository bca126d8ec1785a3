"""Configuration of model training, calibration and promotion.

Every business convention (scorecard scaling, minimum information value, master-scale PD
bounds, promotion thresholds) lives here with a default, overridable from the ``models:``
section of the riskpipe profile (``settings.models``, whose keys and types are checked when the
settings load), from a YAML file given to ``riskpipe train --config``, and from command-line
flags, in that order (later wins). Unknown keys are an error in every layer, so a typo never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from models.backtest import JeffreysConfig
from models.calibration import DEFAULT_SERVED_PD_FLOOR
from riskpipe.core.config import Settings, deep_merge

MODEL_KINDS = ("scorecard", "lightgbm")
# an override's mapping under these keys replaces the earlier one whole instead of merging into it
REPLACED_KEYS = ("reason_texts",)

# Upper PD bound of grades 1..9; grade 10 is everything above the last bound.
DEFAULT_GRADE_BOUNDS = (0.0025, 0.005, 0.01, 0.02, 0.035, 0.06, 0.10, 0.18, 0.30)


@dataclass(frozen=True)
class DataConfig:
    """Where the training table is and what its columns mean.

    ``table`` is a table declared in ``schemas/`` (e.g. ``enterprise_features``) or a path/URI.
    ``label_table`` (optional) is joined on ``(id_col, date_col)`` to bring the label and the
    exclusion columns when they live in a separate table (e.g. ``default_labels``).
    Features are the numeric columns and the categorical (string) columns that are not
    reserved or excluded; see :func:`models.data.column_roles`.
    """

    table: str = "enterprise_features"
    format: str = "delta"  # delta | parquet
    version: int | None = None  # Delta version to pin; None = latest, resolved and logged
    label_table: str | None = None
    label_version: int | None = None
    id_col: str = "uscc"
    date_col: str = "snapshot_date"
    label_col: str = "default_12m"
    features: tuple[str, ...] = ()  # empty = every numeric and string column not excluded
    exclude_cols: tuple[str, ...] = ()  # numeric columns that are never features
    # Policy context, never a risk driver of the bank's own PD (domain brief: the government's
    # recommendation is an input to the decision, not to the PD); kept in the decision record.
    policy_context_cols: tuple[str, ...] = ("ent_gov_recommended", "loan_gov_recommended")
    # Rows where any of these boolean columns is true are dropped (not scoreable, no outcome).
    exclusion_flags: tuple[str, ...] = ("in_default_at_snapshot", "censored")
    # Rows are kept only where every one of these boolean columns is true: the population the
    # model is applied to (our gold table: is_active_borrower, as scoring.active_only). A model
    # fitted on rows it never scores learns who is in the population instead of who defaults.
    population_flags: tuple[str, ...] = ()
    split_date: str = "2021-01-01"  # train on snapshots < split_date, validate on >= split_date
    max_rows: int = 2_000_000  # collected to the driver as pandas; refuse bigger tables
    # Categorical features (binned by category in the scorecard, categorical in LightGBM).
    # None = every string column not excluded; a list may also name numeric code columns.
    categorical_features: tuple[str, ...] | None = None
    max_categories: int = 50  # a categorical column with more distinct values is dropped


# Keys that describe one particular table: a layer that names another ``data.table`` does not
# inherit them from earlier layers (our gold label table must not be joined to a bureau extract).
TABLE_BOUND_KEYS = ("version", "label_table", "label_version", "features", "categorical_features", "population_flags")


@dataclass(frozen=True)
class ScorecardConfig:
    base_score: float = 600.0
    base_odds: float = 50.0  # good:bad odds at base_score
    pdo: float = 20.0  # points to double the good:bad odds
    min_iv: float = 0.02
    cat_cutoff: float = 0.01  # categories rarer than this share of training rows share one "others" bin
    monotonic_trend: str = "auto_asc_desc"
    max_n_prebins: int = 20
    min_prebin_size: float = 0.05
    max_n_bins: int = 8
    regularization_c: float = 1.0


@dataclass(frozen=True)
class LightGBMConfig:
    num_boost_round: int = 100
    learning_rate: float = 0.05
    num_leaves: int = 7
    min_data_in_leaf: int = 100
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 5.0
    n_jobs: int = 1  # OpenMP threads spin when cores are shared with Spark; raise on a dedicated box


@dataclass(frozen=True)
class CalibrationConfig:
    method: str = "platt"  # platt | isotonic
    fit_on: str = "train"  # train | validation (validation makes OOT calibration in-sample)
    cv_folds: int = 3  # out-of-fold LightGBM predictions for calibrating on train
    grade_bounds: tuple[float, ...] = DEFAULT_GRADE_BOUNDS
    min_grade_count: int = 30  # grades with fewer rows are not used for the max-gap metric
    pd_floor: float = DEFAULT_SERVED_PD_FLOOR  # no served PD below this (CRR Art. 160: 0.03 %)
    # per-grade back-test of the out-of-time PDs (models.backtest): traffic-light confidences
    jeffreys: JeffreysConfig = field(default_factory=JeffreysConfig)


@dataclass(frozen=True)
class GateConfig:
    max_auc_drop: float = 0.01  # candidate OOT AUC >= champion OOT AUC - this
    min_auc: float = 0.60
    # row-weighted |mean PD - default rate| by grade (ECE); None: reported, not a gate check (it has
    # no scale of sampling noise: the Jeffreys tests below judge calibration statistically)
    max_calibration_error: float | None = None
    max_score_psi: float = 0.25
    max_red_grades: int = 0  # grades whose OOT Jeffreys test is red (calibration.jeffreys)


@dataclass(frozen=True)
class ValidationConfig:
    """The model validation report (:mod:`models.validation`), one per registered version."""

    ci_method: str = "delong"  # delong | bootstrap: confidence intervals of AUC and Gini
    confidence: float = 0.95
    bootstrap_samples: int = 1000
    bootstrap_by: str = "id"  # id: resample entities (their snapshots move together) | row
    seed: int = 42
    min_gini: float = 0.20  # discrimination is green when the Gini CI's lower bound is at least this
    # filled from calibration.pd_floor and calibration.jeffreys by model_config (one definition
    # for serving, the promotion gate and the report); not settable here
    pd_floor: float = DEFAULT_SERVED_PD_FLOOR
    jeffreys: JeffreysConfig = field(default_factory=JeffreysConfig)
    top_features: int = 10  # features shown in the stability table (largest PSI first)
    on_training: bool = True  # training writes the report of every version it logs
    # the PD floor and the Jeffreys test are those of calibration: (one definition for serving,
    # the gate and the report)


@dataclass(frozen=True)
class ModelConfig:
    """Everything :func:`models.train.train` needs."""

    name: str = "sme_pd"  # registered model name
    experiment: str = "riskpipe-pd"
    tracking_uri: str = ""  # "" = settings.mlflow_tracking_uri
    artifact_root: str = ""  # "" = settings.mlflow_artifact_root (local stores only)
    seed: int = 42
    kinds: tuple[str, ...] = MODEL_KINDS
    # kind that gets the `challenger` alias after training, or auto: the best out-of-fold Gini on
    # the training window, `prefer` when it is within `prefer_margin` of the best
    candidate: str = "scorecard"
    prefer: str = "scorecard"
    prefer_margin: float = 0.02
    register: bool = True
    psi_bins: int = 10
    reason_texts: Mapping[str, str] = field(default_factory=dict)  # feature -> readable text
    data: DataConfig = field(default_factory=DataConfig)
    scorecard: ScorecardConfig = field(default_factory=ScorecardConfig)
    lightgbm: LightGBMConfig = field(default_factory=LightGBMConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    def to_params(self) -> dict[str, str]:
        """Flat ``section.key -> str`` view, for logging as MLflow params."""
        return {key: str(value) for key, value in _flatten(dataclasses.asdict(self)).items()}


def _flatten(data: Mapping, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and key != "reason_texts":
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    """Instantiate dataclass ``cls`` from ``values``, recursing into nested sections."""
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default) and not isinstance(default, type):
            if not isinstance(value, Mapping):
                raise ValueError(f"{where}.{name}: expected a mapping, got {value!r}")
            value = _build(type(default), {**dataclasses.asdict(default), **value}, f"{where}.{name}")
        elif (isinstance(default, tuple) or name == "categorical_features") and value is not None:
            value = (
                tuple(value) if not isinstance(value, str) else tuple(v.strip() for v in value.split(",") if v.strip())
            )  # "" = an empty list
        kwargs[name] = value
    config = cls(**{**{f: getattr(cls(), f) for f in known}, **kwargs})
    _validate(config, where)
    return config


def _validate(config: Any, where: str) -> None:
    if isinstance(config, ModelConfig):
        bad = sorted(set(config.kinds) - set(MODEL_KINDS))
        if bad or not config.kinds:
            raise ValueError(f"{where}.kinds: {list(config.kinds)}; allowed: {MODEL_KINDS}")
        if config.candidate not in (*config.kinds, "auto"):
            raise ValueError(f"{where}.candidate={config.candidate!r} is not auto or among kinds {config.kinds}")
        if config.prefer not in MODEL_KINDS or config.prefer_margin < 0:
            raise ValueError(f"{where}: prefer must be one of {MODEL_KINDS} and prefer_margin >= 0")
    if isinstance(config, CalibrationConfig):
        if config.method not in ("platt", "isotonic") or config.fit_on not in ("train", "validation"):
            raise ValueError(f"{where}: method must be platt|isotonic and fit_on train|validation")
        if list(config.grade_bounds) != sorted(config.grade_bounds) or not all(0 < b < 1 for b in config.grade_bounds):
            raise ValueError(f"{where}.grade_bounds must increase strictly inside (0, 1)")
        if not 0 < config.pd_floor < config.grade_bounds[0]:
            raise ValueError(
                f"{where}.pd_floor={config.pd_floor} must lie in (0, first grade bound {config.grade_bounds[0]})"
            )
    if isinstance(config, ValidationConfig):
        if config.ci_method not in ("delong", "bootstrap") or config.bootstrap_by not in ("id", "row"):
            raise ValueError(f"{where}: ci_method must be delong|bootstrap and bootstrap_by id|row")
        if not 0 < config.confidence < 1 or config.bootstrap_samples < 50:
            raise ValueError(f"{where}: need 0 < confidence < 1 and bootstrap_samples >= 50")
    if isinstance(config, DataConfig) and config.format not in ("delta", "parquet"):
        raise ValueError(f"{where}.format must be delta or parquet, got {config.format!r}")
    if isinstance(config, DataConfig) and config.max_categories < 2:
        raise ValueError(f"{where}.max_categories must be at least 2, got {config.max_categories}")


def _unbind_table(merged: dict, override: Mapping) -> dict:
    """``merged`` without its :data:`TABLE_BOUND_KEYS` when ``override`` names another ``data.table``.

    Keys given in the same layer as the table are kept; column names, ``exclude_cols`` and
    ``exclusion_flags`` are inherited (names absent from the table are ignored).
    """
    data = override.get("data") or {}
    current = (merged.get("data") or {}).get("table", DataConfig.table)
    if "table" not in data or data["table"] == current:
        return merged
    defaults = DataConfig()
    unbound = {key: getattr(defaults, key) for key in TABLE_BOUND_KEYS if key not in data}
    return {**merged, "data": {**(merged.get("data") or {}), **unbound}}


def load_yaml_overrides(path: str | Path) -> dict:
    """Read a YAML file holding either a ``models:`` mapping or the mapping itself."""
    with Path(path).open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping")
    return data.get("models", data)


def model_config(settings: Settings, *overrides: Mapping[str, Any]) -> ModelConfig:
    """Build the :class:`ModelConfig` from settings and any number of override mappings.

    Args:
        settings: the resolved settings (the caller's). Supplies ``name`` (``mlflow.model_name``),
            ``tracking_uri``, ``artifact_root`` and the ``models:`` mapping of the profile.
        overrides: nested mappings applied in order (later wins), e.g. a ``--config`` YAML and
            the command-line flags. A layer whose ``data.table`` differs from the table so far
            resets :data:`TABLE_BOUND_KEYS` it does not set itself (no inherited label table,
            Delta version or feature lists).

    Raises:
        ValueError: naming any unknown key or invalid value.
    """
    merged: dict = {
        "name": settings.model_name,
        "tracking_uri": settings.mlflow_tracking_uri,
        "artifact_root": settings.mlflow_artifact_root,
    }
    merged = deep_merge(merged, settings.sections("models")["models"], replace=REPLACED_KEYS)
    for override in overrides:
        merged = deep_merge(_unbind_table(merged, override or {}), override or {}, replace=REPLACED_KEYS)
    shared = sorted({"pd_floor", "jeffreys"} & set(merged.get("validation") or {}))
    if shared:
        raise ValueError(
            f"models.validation: {shared} are set under models.calibration (one definition for "
            "serving, the gate and the report)"
        )
    config = _build(ModelConfig, merged, "models")
    return dataclasses.replace(
        config,
        validation=dataclasses.replace(
            config.validation, pd_floor=config.calibration.pd_floor, jeffreys=config.calibration.jeffreys
        ),
    )
