"""The schema of a riskpipe profile: ``conf/default.yaml`` and the file ``RISKPIPE_PROFILE`` names.

Every section is a pydantic model that forbids keys it does not declare, so a misspelt key fails
at load naming its dotted path (``ingestion.max_failure_rat: unknown setting``) and a value of the
wrong type fails naming the key and the value. A key set to ``null`` takes its default below; a
required key set to ``null`` is an error.

Sections whose content is open by design are maps (``spark.conf``, ``ingestion.max_failure_rate_by_table``,
``core_banking.jdbc_properties`` and ``tables``). Sections that their own dataclasses build and
validate, unknown keys included, are plain mappings here and are checked there, once, when a job
builds them: ``default_definition`` (``jobs.features.default_definition.DefaultDefinition``),
``models`` (``models.config.model_config``), ``decisions`` (``jobs.assess.policy.DecisionConfig``)
and ``monitoring`` (``jobs.model_monitoring.metrics.MonitoringConfig``). ``classification`` and
``portfolio`` are built by dataclasses that check values but not keys: their keys are checked here
and they reach the dataclasses as written (``jobs.post_loan.loan_classification``,
``jobs.portfolio.config``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Scalar = str | int | float | bool


class ProfileError(ValueError):
    """A profile that does not match the schema; the message names every key at fault."""


class Section(BaseModel):
    """A profile section: unknown keys are errors, ``null`` means the default, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_the_default(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value is not None or key not in cls.model_fields}
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


class DpdFloor(Section):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    dpd: Any
    class_: Any = Field(alias="class")


class Ifrs9Section(Section):
    stage2_dpd: Any = None
    sicr_pd_ratio: Any = None
    sicr_min_pd: Any = None
    # removed; kept so that ClassificationConfig names what replaced it
    stage3_dpd: Any = None


class ClassificationSection(Section):
    """The keys of ``classification``; ``jobs.post_loan.loan_classification.ClassificationConfig`` checks the values."""

    dpd_floors: list[DpdFloor] | None = None
    severity_floors: dict[str, Any] | None = None
    restructured_floor: Any = None
    ifrs9: Ifrs9Section | None = None


class LgdSection(Section):
    default: Any = None
    # each rule's keys are checked by jobs.portfolio.config
    rules: list[dict[str, Any]] | None = None


class CcfSection(Section):
    default: Any = None
    by_product: dict[str, Any] | None = None


class FundSection(Section):
    balance: Any = None
    balance_by_product: dict[str, Any] | None = None
    loss_order: Any = None


class PortfolioSection(Section):
    """The keys of ``portfolio``; ``jobs.portfolio.config.from_mapping`` checks the values."""

    unscored_pd: Any = None
    lgd: LgdSection | None = None
    ccf: CcfSection | None = None
    fund: FundSection | None = None
    top_n_borrowers: Any = None
    # removed; kept so that PortfolioConfig names what replaced it
    default_dpd: Any = None


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
    # validated by their own dataclasses (see the module docstring)
    default_definition: dict[str, Any] | None = None
    models: dict[str, Any] = Field(default_factory=dict)
    decisions: dict[str, Any] = Field(default_factory=dict)
    monitoring: dict[str, Any] = Field(default_factory=dict)
    # their keys are checked here, their values by their own dataclasses
    classification: ClassificationSection = Field(default_factory=ClassificationSection)
    portfolio: PortfolioSection = Field(default_factory=PortfolioSection)

    def plain_sections(self, names: Sequence[str]) -> dict[str, Any]:
        """``{name: section}``: the typed models, and the sections that dataclasses build as the mappings written."""
        as_written = {"classification", "portfolio"}
        return {
            name: getattr(self, name).model_dump(exclude_unset=True, by_alias=True)
            if name in as_written
            else getattr(self, name)
            for name in names
        }


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
