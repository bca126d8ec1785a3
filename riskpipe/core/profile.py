"""The schema of a riskpipe profile: ``conf/default.yaml`` and the file ``RISKPIPE_PROFILE`` names.

Every section is a pydantic model that forbids keys it does not declare, so a misspelt key fails
at load naming its dotted path (``ingestion.max_failure_rat: unknown setting``) and a value of the
wrong type fails naming the key and the value. A key set to ``null`` takes its default below; a
required key set to ``null`` is an error.

Sections whose content is open by design are maps (``spark.conf``, ``ingestion.max_failure_rate_by_table``,
``core_banking.jdbc_properties`` and ``tables``). The types of a section are checked here; what a
value means in the domain (a fraction within [0, 1], floors consistent with the default definition,
thresholds in order, a known feature or model kind) is checked by the dataclass a job builds from
the section, once, with a message in the domain's terms: ``default_definition``
(``jobs.features.default_definition.DefaultDefinition``), ``models`` (``models.config.model_config``),
``classification`` (``jobs.post_loan.loan_classification.ClassificationConfig``), ``decisions``
(``jobs.assess.policy.DecisionConfig``), ``monitoring`` (``jobs.model_monitoring.metrics.MonitoringConfig``)
and ``portfolio`` (``jobs.portfolio.config``). Those dataclasses are built from
``Settings.sections()``, the keys as written, so their own defaults apply to keys a profile leaves
out; the defaults below are the same values, for code that reads a section's attributes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictInt, ValidationError, model_validator

Scalar = str | int | float | bool


def _number(value: Any) -> int | float:
    """``value`` as written: an int stays an int, because models/ logs these values as MLflow params
    and an assessment stores its policy as JSON; true/false is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected a number")
    return value


def _iso_date(value: Any) -> str:
    """An ISO date as text (``2021-01-01``); YAML reads an unquoted date as a date."""
    if isinstance(value, dt.date):
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise ValueError("expected an ISO date (YYYY-MM-DD)") from None


def _policy_value(value: Any) -> Any:
    """What a policy condition compares with: a value, a list of values (``in``, ``not_in``) or None."""
    scalars = (str, int, float, bool)
    if value is None or isinstance(value, scalars):
        return value
    if isinstance(value, list) and all(isinstance(item, scalars) for item in value):
        return value
    raise ValueError("expected a value or a list of values")


Number = Annotated[int | float, PlainValidator(_number)]
# a whole number (not 2.0, not "2", not true)
Whole = StrictInt
IsoDate = Annotated[str, PlainValidator(_iso_date)]
PolicyValue = Annotated[Any, PlainValidator(_policy_value)]


class ProfileError(ValueError):
    """A profile that does not match the schema; the message names every key at fault."""


class Section(BaseModel):
    """A profile section: unknown keys are errors, ``null`` means the default, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_the_default(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            fields = {*cls.model_fields, *(f.alias for f in cls.model_fields.values() if f.alias)}
            return {key: value for key, value in data.items() if value is not None or key not in fields}
        return {} if data is None else data


class SparkSection(Section):
    master: str = "local[*]"
    app_name: str = "riskpipe"
    # a number is taken as it is written (Spark reads a bare number as bytes or MiB)
    driver_memory: str | int = "4g"
    executor_memory: str | int = "2g"
    shuffle_partitions: int = 8
    ui_enabled: bool = True
    # any Spark configuration, key: value (values are passed to Spark as strings)
    conf: dict[str, Scalar] = Field(default_factory=dict)


class JarsSection(Section):
    packages: list[str] = Field(default_factory=list)
    # a profile adds jars (hadoop-aws) without repeating the default lists
    extra_packages: list[str] = Field(default_factory=list)
    fallback_artifacts: list[str] = Field(default_factory=list)
    extra_fallback_artifacts: list[str] = Field(default_factory=list)
    cache_dir: str = ".cache/jars"
    on_every_node: bool = False


class MlflowSection(Section):
    tracking_uri: str = ""
    artifact_root: str = "var/mlflow/artifacts"
    model_name: str = "sme_pd"


class CourtApiSection(Section):
    base_url: str
    conn_id: str
    token_env: str | None = None
    # the events endpoint under base_url (None: the API's documented path)
    path: str | None = None
    page_size: int
    # None: no cap on the pages of one interval
    max_pages: int | None = None
    timeout_seconds: float
    max_retries: int
    backoff_seconds: float


class CoreBankingTable(Section):
    watermark_column: str
    incremental: Literal["window", "append_only"] = "window"


class CoreBankingSection(Section):
    conn_id: str
    url_env: str | None = None
    user_env: str | None = None
    password_env: str | None = None
    jdbc_properties: dict[str, Scalar] = Field(default_factory=dict)
    tables: dict[str, CoreBankingTable] = Field(default_factory=dict)


class IngestionSection(Section):
    max_failure_rate: float
    max_failure_rate_by_table: dict[str, float] = Field(default_factory=dict)
    on_new_column: Literal["evolve", "reject"] = "reject"
    on_changed_file: Literal["fail", "reprocess"] = "fail"
    # empty: no Data Docs site (RISKPIPE_DATA_DOCS_DIR replaces it)
    data_docs_dir: str = ""
    # above this many rows the pandas copy would strain the driver; Great Expectations then runs on Spark
    ge_pandas_max_rows: int = 1_000_000
    # 512 MiB of landed Parquet is about 8M transactions: the largest batch seen to run
    # comfortably on the 6 GB local driver (3,000 enterprises × 36 months in one batch).
    backfill_max_batch_bytes: int = 512 * 1024 * 1024
    # rows per file of a partitioned silver table (1M transactions: about 70 MB of zstd Parquet)
    silver_rows_per_file: int = 1_000_000
    court_api: CourtApiSection
    core_banking: CoreBankingSection


_INTERVAL = re.compile(r"^interval (\d+) (hours?|days?|weeks?)$")
_HOURS = {"hour": 1, "day": 24, "week": 168}


def interval_hours(text: str) -> float:
    """Hours of a Delta interval property value such as ``interval 30 days``.

    Raises:
        ValueError: for any other form (Delta's own parser takes more; the profile keeps to these).
    """
    match = _INTERVAL.match(text.strip().lower())
    if match is None:
        raise ValueError(f"expected 'interval N hours|days|weeks', got {text!r}")
    return float(match.group(1)) * _HOURS[match.group(2).rstrip("s")]


def _interval(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a Delta interval such as 'interval 30 days'")
    interval_hours(value)
    return value.strip().lower()


Interval = Annotated[str, PlainValidator(_interval)]


class LayerRetention(Section):
    """The retention table properties of one layer's tables (Delta's names, Delta's interval form)."""

    # delta.logRetentionDuration: how long commits stay in _delta_log, so how far back time travel,
    # history and restore can reach
    log: Interval = "interval 30 days"
    # delta.deletedFileRetentionDuration: how long VACUUM keeps a data file after a commit removed it
    deleted_files: Interval = "interval 7 days"

    @model_validator(mode="after")
    def _log_outlives_files(self) -> LayerRetention:
        # a version whose files are kept is readable only while its commit is in the log too
        if interval_hours(self.log) < interval_hours(self.deleted_files):
            raise ValueError(f"log retention {self.log!r} is shorter than deleted_files {self.deleted_files!r}")
        return self


class OptimizeSection(Section):
    # files OPTIMIZE writes stay below this (spark.databricks.delta.optimize.maxFileSize; Delta's
    # default is 1 GiB, which would merge a month of transactions into one file the MERGE cannot skip)
    max_file_bytes: Whole = 128 * 1024 * 1024


class MaintenanceSection(Section):
    """``maintenance``: the weekly Delta maintenance (``jobs.maintenance``, DAG ``delta_maintenance``)."""

    retention: dict[Literal["bronze", "silver", "gold", "ops"], LayerRetention] = Field(default_factory=dict)
    optimize: OptimizeSection = Field(default_factory=OptimizeSection)
    # tasks VACUUM lists a table's folder with (spark.sql.sources.parallelPartitionDiscovery.parallelism,
    # Spark's default 10,000 tasks: a minute of empty tasks for a small table on 2 cores)
    listing_parallelism: Whole = 16

    def layer_retention(self, layer: str) -> LayerRetention:
        """The retention of ``layer`` (Delta's defaults, 30 days of log and 7 of removed files, when unset)."""
        return self.retention.get(layer) or LayerRetention()  # type: ignore[call-overload]


class FeaturesSection(Section):
    # the first month-end gold keeps (an ISO date); None: the earliest snapshot already built
    first_snapshot: dt.date | None = None


class ScoringSection(Section):
    alias: str = "champion"
    active_only: bool = True


class WarningTargets(Section):
    min_severity: str
    max_false_alarm_rate: int | float
    min_hit_rate: int | float
    min_median_lead_months: int | float


class EarlyWarningsSection(Section):
    catalogue: str = "conf/early_warnings.yaml"
    watch_list_min_severity: Literal["low", "medium", "high", "critical"] = "low"
    # None: the catalogue's evaluation reports no targets
    targets: WarningTargets | None = None


class ReportSection(Section):
    output_dir: str = "var/reports"


class StressSection(Section):
    scenarios: str = "conf/stress_scenarios.yaml"


class DefaultDefinitionSection(Section):
    """``default_definition``: more than ``dpd_over`` days past due, or a status in ``statuses``, is a default."""

    dpd_over: Whole
    statuses: list[str]


class DpdFloor(Section):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    dpd: Whole
    class_: str = Field(alias="class")


class Ifrs9Section(Section):
    stage2_dpd: Whole = 30
    sicr_pd_ratio: Number = 3.0
    sicr_min_pd: Number = 0.05
    # removed; kept so that ClassificationConfig names what replaced it
    stage3_dpd: Any = None


class ClassificationSection(Section):
    """``classification``; ``jobs.post_loan.loan_classification.ClassificationConfig`` checks it against
    the default definition."""

    dpd_floors: list[DpdFloor] = Field(default_factory=list)
    # warning severity -> the class it raises a loan to at least
    severity_floors: dict[str, str] = Field(default_factory=dict)
    restructured_floor: str = "substandard"
    ifrs9: Ifrs9Section = Field(default_factory=Ifrs9Section)


class LgdRule(Section):
    """LGD ``lgd`` for loans whose columns equal every value given (a key left out matches any value)."""

    guarantee_type: str | None = None
    collateral_type: str | None = None
    product: str | None = None
    lgd: Number


class LgdSection(Section):
    default: Number = 0.75
    rules: list[LgdRule] = Field(default_factory=list)


class CcfSection(Section):
    default: Number = 0.5
    by_product: dict[str, Number] = Field(default_factory=dict)


class FundSection(Section):
    balance: Number = 0.0
    balance_by_product: dict[str, Number] = Field(default_factory=dict)
    loss_order: str = "el_desc"


class PortfolioSection(Section):
    """``portfolio``; ``jobs.portfolio.config.from_mapping`` checks ranges and the loss order."""

    unscored_pd: Number = 0.30
    lgd: LgdSection = Field(default_factory=LgdSection)
    ccf: CcfSection = Field(default_factory=CcfSection)
    fund: FundSection = Field(default_factory=FundSection)
    top_n_borrowers: Whole = 10
    # removed; kept so that PortfolioConfig names what replaced it
    default_dpd: Any = None


class ModelData(Section):
    """``models.data``: the training table and the roles of its columns (``models.config.DataConfig``)."""

    table: str = "enterprise_features"
    format: str = "delta"
    version: Whole | None = None
    label_table: str | None = None
    label_version: Whole | None = None
    id_col: str = "uscc"
    date_col: str = "snapshot_date"
    label_col: str = "default_12m"
    features: list[str] = Field(default_factory=list)
    exclude_cols: list[str] = Field(default_factory=list)
    policy_context_cols: list[str] = Field(default_factory=lambda: ["ent_gov_recommended", "loan_gov_recommended"])
    exclusion_flags: list[str] = Field(default_factory=lambda: ["in_default_at_snapshot", "censored"])
    population_flags: list[str] = Field(default_factory=list)
    split_date: IsoDate = "2021-01-01"
    max_rows: Whole = 2_000_000
    # None: every string column
    categorical_features: list[str] | None = None
    max_categories: Whole = 50


class ScorecardSection(Section):
    base_score: Number = 600
    base_odds: Number = 50
    pdo: Number = 20
    min_iv: Number = 0.02
    cat_cutoff: Number = 0.01
    monotonic_trend: str = "auto_asc_desc"
    max_n_prebins: Whole = 20
    min_prebin_size: Number = 0.05
    max_n_bins: Whole = 8
    regularization_c: Number = 1.0


class LightGbmSection(Section):
    num_boost_round: Whole = 100
    learning_rate: Number = 0.05
    num_leaves: Whole = 7
    min_data_in_leaf: Whole = 100
    feature_fraction: Number = 0.9
    bagging_fraction: Number = 0.8
    bagging_freq: Whole = 1
    lambda_l2: Number = 5.0
    n_jobs: Whole = 1


class JeffreysSection(Section):
    """The per-grade Jeffreys test (``models.backtest.JeffreysConfig``)."""

    amber_confidence: Number = 0.95
    red_confidence: Number = 0.999
    sides: str = "both"
    unit: str = "obligor"


class CalibrationSection(Section):
    method: str = "platt"
    fit_on: str = "train"
    cv_folds: Whole = 3
    grade_bounds: list[Number] = Field(
        default_factory=lambda: [0.0025, 0.005, 0.01, 0.02, 0.035, 0.06, 0.10, 0.18, 0.30]
    )
    min_grade_count: Whole = 30
    pd_floor: Number = 0.0003
    jeffreys: JeffreysSection = Field(default_factory=JeffreysSection)


class GateSection(Section):
    max_auc_drop: Number = 0.01
    min_auc: Number = 0.60
    # None: reported, not a gate check
    max_calibration_error: Number | None = None
    max_score_psi: Number = 0.25
    max_red_grades: Whole = 0


class ModelValidationSection(Section):
    ci_method: str = "delong"
    confidence: Number = 0.95
    bootstrap_samples: Whole = 1000
    bootstrap_by: str = "id"
    seed: Whole = 42
    min_gini: Number = 0.20
    top_features: Whole = 10
    on_training: bool = True
    # set under models.calibration; kept so that model_config names where
    pd_floor: Any = None
    jeffreys: Any = None


class ModelsSection(Section):
    """``models``: training, calibration and promotion (``models.config.model_config`` checks kinds and ranges).

    The registered model's name and the MLflow stores are ``mlflow``'s, not set here.
    """

    experiment: str = "riskpipe-pd"
    seed: Whole = 42
    kinds: list[str] = Field(default_factory=lambda: ["scorecard", "lightgbm"])
    # a kind, or auto: the best out-of-fold Gini, ``prefer`` when within ``prefer_margin`` of it
    candidate: str = "scorecard"
    prefer: str = "scorecard"
    prefer_margin: Number = 0.02
    # register the trained versions in the model registry ("register" is a pydantic model's own attribute)
    register_: bool = Field(default=True, alias="register")
    psi_bins: Whole = 10
    # feature -> readable text
    reason_texts: dict[str, str] = Field(default_factory=dict)
    data: ModelData = Field(default_factory=ModelData)
    scorecard: ScorecardSection = Field(default_factory=ScorecardSection)
    lightgbm: LightGbmSection = Field(default_factory=LightGbmSection)
    calibration: CalibrationSection = Field(default_factory=CalibrationSection)
    gate: GateSection = Field(default_factory=GateSection)
    validation: ModelValidationSection = Field(default_factory=ModelValidationSection)


class Condition(Section):
    """``feature op value`` of a policy rule; ``is_null`` and ``not_null`` take no value."""

    feature: str
    op: str
    value: PolicyValue = None


class PolicyRule(Section):
    code: str
    text: str
    action: str
    when: list[Condition]


class LimitSection(Section):
    """How the recommended limit is bounded (amounts in CNY)."""

    sales_share: Number = 0.25
    # master-scale grade -> multiplier of sales_share
    grade_multiplier: dict[int, Number] = Field(
        default_factory=lambda: {1: 1.0, 2: 1.0, 3: 0.9, 4: 0.8, 5: 0.7, 6: 0.6, 7: 0.4, 8: 0.3, 9: 0.0, 10: 0.0}
    )
    net_of_existing_exposure: bool = True
    max_amount: Number = 5_000_000.0
    min_amount: Number = 50_000.0
    rounding: Number = 10_000.0


class DecisionsSection(Section):
    """``decisions``: the pre-loan policy (``jobs.assess.policy.DecisionConfig`` checks features, operators
    and bands)."""

    model_alias: str = "champion"
    # decision -> [first, last] master-scale grade
    grade_bands: dict[str, tuple[Whole, Whole]] = Field(
        default_factory=lambda: {"approve": (1, 6), "refer": (7, 8), "decline": (9, 10)}
    )
    limit: LimitSection = Field(default_factory=LimitSection)
    rules: list[PolicyRule] = Field(default_factory=list)


class PsiSection(Section):
    bins: Whole = 10
    stable_below: Number = 0.10
    act_above: Number = 0.25
    # scored: the training sample restricted to the population scoring applies the model to; training: all of it
    reference_population: str = "scored"


class BacktestSection(Section):
    maturity_months: Whole = 12
    window_months: Whole = 12
    amber_confidence: Number = 0.95
    red_confidence: Number = 0.999
    sides: str = "both"
    unit: str = "obligor"


class AucLights(Section):
    amber_below: Number = 0.70
    red_below: Number = 0.60


class KsLights(Section):
    amber_below: Number = 0.30
    red_below: Number = 0.20


class RetrainSection(Section):
    # alerts that trigger retraining: "metric" (any subject) or "metric:subject"
    triggers: list[str] = Field(default_factory=lambda: ["psi:score"])
    oot_months: Whole = 6


class MonitoringSection(Section):
    """``monitoring``; ``jobs.model_monitoring.metrics.MonitoringConfig`` checks that the thresholds agree."""

    psi: PsiSection = Field(default_factory=PsiSection)
    backtest: BacktestSection = Field(default_factory=BacktestSection)
    auc: AucLights = Field(default_factory=AucLights)
    ks: KsLights = Field(default_factory=KsLights)
    retrain: RetrainSection = Field(default_factory=RetrainSection)


class Profile(Section):
    """The whole profile, one attribute per top-level section."""

    spark: SparkSection = Field(default_factory=SparkSection)
    lakehouse_root: str = "var/lakehouse"
    landing_root: str = "var/landing"
    jars: JarsSection = Field(default_factory=JarsSection)
    mlflow: MlflowSection = Field(default_factory=MlflowSection)
    ingestion: IngestionSection
    features: FeaturesSection = Field(default_factory=FeaturesSection)
    scoring: ScoringSection = Field(default_factory=ScoringSection)
    early_warnings: EarlyWarningsSection = Field(default_factory=EarlyWarningsSection)
    report: ReportSection = Field(default_factory=ReportSection)
    stress: StressSection = Field(default_factory=StressSection)
    default_definition: DefaultDefinitionSection
    models: ModelsSection = Field(default_factory=ModelsSection)
    classification: ClassificationSection = Field(default_factory=ClassificationSection)
    decisions: DecisionsSection = Field(default_factory=DecisionsSection)
    monitoring: MonitoringSection = Field(default_factory=MonitoringSection)
    portfolio: PortfolioSection = Field(default_factory=PortfolioSection)
    maintenance: MaintenanceSection = Field(default_factory=MaintenanceSection)

    def sections(self, names: Sequence[str]) -> dict[str, Any]:
        """``{name: section}`` for the top-level sections ``names`` (the models themselves)."""
        return {name: getattr(self, name) for name in names}


def _path(location: Sequence[int | str]) -> str:
    """``ingestion.core_banking.tables.loans`` from pydantic's location tuple (list items as ``[i]``)."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problem(error: Mapping[str, Any]) -> str:
    path = _path(error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{path}: unknown setting"
    if error["type"] == "missing":
        return f"{path}: required setting missing"
    message = str(error["msg"])
    return f"{path}: {message[:1].lower()}{message[1:]}, got {error['input']!r}"


def parse_profile(data: Mapping[str, Any], *, sources: Sequence[Path | str] = ()) -> Profile:
    """Validate a merged profile mapping.

    Raises:
        ProfileError: naming the dotted path of every unknown key, missing key or wrong value
            (and the files the profile was read from).
    """
    try:
        return Profile.model_validate(data)
    except ValidationError as error:
        origin = f" (profile: {' + '.join(str(s) for s in sources)})" if sources else ""
        problems = "\n  ".join(_problem(e) for e in error.errors(include_url=False))
        raise ProfileError(f"invalid riskpipe settings{origin}:\n  {problems}") from None
