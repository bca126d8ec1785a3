"""Runtime settings: a YAML profile plus environment-variable overrides.

Resolution order (later wins):

1. ``conf/default.yaml`` shipped with the repo;
2. the profile named by ``RISKPIPE_PROFILE`` (a YAML file, deep-merged);
3. single environment variables:

   ==============================  ==========================================
   ``RISKPIPE_SPARK_MASTER``       Spark master URL (``local[*]``, ``spark://host:7077``, ``yarn``, ``k8s://...``)
   ``RISKPIPE_LAKEHOUSE``          lakehouse root (local folder or any Hadoop path, e.g. ``s3a://bucket/x``)
   ``RISKPIPE_LANDING``            landing folder for source files
   ``RISKPIPE_DRIVER_MEMORY``      ``spark.driver.memory``
   ``RISKPIPE_EXECUTOR_MEMORY``    ``spark.executor.memory``
   ``RISKPIPE_SHUFFLE_PARTITIONS`` ``spark.sql.shuffle.partitions``
   ``RISKPIPE_SPARK_UI``           ``true``/``false``
   ``RISKPIPE_SPARK_CONF``         extra Spark conf, ``key=value`` pairs separated by ``;`` or newlines
   ``RISKPIPE_JARS_DIR``           jar cache folder
   ``RISKPIPE_JARS_ON_EVERY_NODE`` ``true`` when every Spark node has the jar cache at the same path
                                   (the docker/ image): executors load the jars in place (``local:``)
   ``RISKPIPE_MODEL_NAME``         registered model name (``mlflow.model_name``)
   ``RISKPIPE_DATA_DOCS_DIR``      Great Expectations Data Docs folder (``ingestion.data_docs_dir``; empty: none)
   ``RISKPIPE_COURT_API_URL``      court REST API base URL (``ingestion.court_api.base_url``)
   ``MLFLOW_TRACKING_URI``         MLflow tracking store
   ``RISKPIPE_MLFLOW_ARTIFACT_ROOT`` artifact folder of a local tracking store
   ``RISKPIPE_S3_ENDPOINT``        S3 endpoint of an ``s3a://`` lakehouse (e.g. ``http://minio:9000``)
   ``RISKPIPE_S3_PATH_STYLE``      ``true`` for path-style bucket access (MinIO and most on-premise stores)
   ``AWS_REGION``                  S3 region (``AWS_DEFAULT_REGION`` also read)
   ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``  S3 credentials
   ==============================  ==========================================

The profile is validated against :mod:`riskpipe.core.profile` after the merge: an unknown key or a
value of the wrong type is an error naming its dotted path. Environment variables are read here
only: the entry points (CLI commands, DAG tasks, test fixtures) load the settings once and pass
them down.

The S3 variables become ``spark.hadoop.fs.s3a.*`` settings (see :func:`object_store_conf`); without
credentials S3A falls back to its own provider chain (instance profile, web identity). The
``hadoop-aws`` jar comes from ``jars.extra_packages`` of a profile such as ``conf/production.yaml``.
"""

from __future__ import annotations

import copy
import importlib.metadata
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel

from riskpipe.core.profile import (
    ClassificationSection,
    DecisionsSection,
    DefaultDefinitionSection,
    EarlyWarningsSection,
    FeaturesSection,
    IngestionSection,
    MaintenanceSection,
    ModelsSection,
    MonitoringSection,
    PortfolioSection,
    Profile,
    ReportSection,
    ScoringSection,
    StressSection,
    parse_profile,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PROFILE = REPO_ROOT / "conf" / "default.yaml"


def deep_merge(base: Mapping, override: Mapping, *, replace: Collection[str] = ()) -> dict:
    """``base`` with ``override`` merged into it, mapping into mapping (a copy; the inputs are not changed).

    A key in ``replace`` takes the override's mapping as a whole instead of merging into it.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping) and key not in replace:
            merged[key] = deep_merge(merged[key], value, replace=replace)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _load_yaml(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"riskpipe profile not found: {path}")
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    if not isinstance(data, dict):
        raise ValueError(f"riskpipe profile {path} must contain a YAML mapping at top level")
    return data


def parse_spark_conf(text: str) -> dict[str, str]:
    """Parse ``key=value`` pairs separated by ``;`` or newlines.

    Raises:
        ValueError: naming the malformed pair.
    """
    conf: dict[str, str] = {}
    for raw in text.replace("\n", ";").split(";"):
        pair = raw.strip()
        if not pair:
            continue
        if "=" not in pair:
            raise ValueError(f"RISKPIPE_SPARK_CONF: expected key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        conf[key.strip()] = value.strip()
    return conf


# Environment variable -> Hadoop S3A option (spark.hadoop.* reaches the driver and every executor).
# Credentials are read from the environment only, never from a profile file.
S3A_ENV = {
    "RISKPIPE_S3_ENDPOINT": "spark.hadoop.fs.s3a.endpoint",
    "RISKPIPE_S3_PATH_STYLE": "spark.hadoop.fs.s3a.path.style.access",
    "AWS_ACCESS_KEY_ID": "spark.hadoop.fs.s3a.access.key",
    "AWS_SECRET_ACCESS_KEY": "spark.hadoop.fs.s3a.secret.key",
    "AWS_SESSION_TOKEN": "spark.hadoop.fs.s3a.session.token",
}
S3A_TEMPORARY_CREDENTIALS = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"


def object_store_conf(env: Mapping[str, str]) -> dict[str, str]:
    """Spark settings for ``s3a://`` paths from the S3 environment variables (pure).

    Returns:
        ``spark.hadoop.fs.s3a.*`` keys for the variables that are set and non-empty; an
        ``http://`` endpoint also turns TLS off, a session token selects the temporary
        credentials provider.
    """
    conf = {key: env[name].strip() for name, key in S3A_ENV.items() if env.get(name, "").strip()}
    region = (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "").strip()
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    if conf.get("spark.hadoop.fs.s3a.endpoint", "").startswith("http://"):
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "false"
    if "spark.hadoop.fs.s3a.session.token" in conf:
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = S3A_TEMPORARY_CREDENTIALS
    return conf


def _unique(*groups: Any) -> tuple[str, ...]:
    """Concatenate lists of Maven coordinates, dropping repeats (first wins).

    ``{delta_spark}`` in a coordinate is the version of the installed ``delta-spark`` package, so
    the Delta jar Spark loads always matches the Python API that drives it.
    """
    versions = {"delta_spark": importlib.metadata.version("delta-spark")}
    return tuple(dict.fromkeys(str(item).format(**versions) for group in groups for item in (group or [])))


def resolve_path(value: str) -> str:
    """Return a local path made absolute against the repo, or a URI unchanged."""
    if "://" in value or value.startswith("file:"):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else REPO_ROOT / path)


# the profile sections a Settings carries typed (spark, jars and mlflow are resolved into the fields above them)
SECTIONS = (
    "ingestion",
    "features",
    "scoring",
    "early_warnings",
    "report",
    "stress",
    "default_definition",
    "models",
    "classification",
    "decisions",
    "monitoring",
    "portfolio",
    "maintenance",
)


@dataclass(frozen=True)
class Settings:
    """Resolved runtime settings (immutable): Spark, storage and MLflow, then the typed profile sections."""

    spark_master: str
    app_name: str
    driver_memory: str
    executor_memory: str
    shuffle_partitions: int
    ui_enabled: bool
    spark_conf: dict[str, str]
    lakehouse_root: str
    landing_root: str
    jar_packages: tuple[str, ...]
    jar_fallback_artifacts: tuple[str, ...]
    jars_dir: str
    mlflow_tracking_uri: str
    mlflow_artifact_root: str
    model_name: str
    ingestion: IngestionSection = field(repr=False)
    features: FeaturesSection = field(repr=False)
    scoring: ScoringSection = field(repr=False)
    early_warnings: EarlyWarningsSection = field(repr=False)
    report: ReportSection = field(repr=False)
    stress: StressSection = field(repr=False)
    # the jobs build these into their own dataclasses from sections(), which check what the values mean
    default_definition: DefaultDefinitionSection = field(repr=False)
    models: ModelsSection = field(repr=False)
    classification: ClassificationSection = field(repr=False)
    decisions: DecisionsSection = field(repr=False)
    monitoring: MonitoringSection = field(repr=False)
    portfolio: PortfolioSection = field(repr=False)
    maintenance: MaintenanceSection = field(repr=False)
    # spark.hadoop.fs.s3a.* from the environment; kept out of repr because it may hold credentials
    object_store_conf: dict = field(default_factory=dict, repr=False)
    jars_on_every_node: bool = False

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed."""
        values = {name: getattr(self, name) for name in self.__dataclass_fields__}
        values.update(changes)
        return Settings(**values)

    def sections(self, *names: str) -> dict[str, Any]:
        """``{name: section}`` as plain data (a copy): the keys the merged profile or the environment set.

        What the sections' own dataclasses are built from, so their defaults apply to keys left
        out; validating it again (:meth:`merged`) gives back the same sections.
        """
        return {name: _plain(getattr(self, name)) for name in names}

    def merged(self, changes: Mapping[str, Any]) -> Settings:
        """Return a copy with ``changes``, a mapping shaped like the profile's sections, merged in and validated.

        E.g. ``settings.merged({"ingestion": {"court_api": {"max_pages": 3}}})``.

        Raises:
            ValueError: for a key that is not a section of :data:`SECTIONS`.
            riskpipe.core.profile.ProfileError: naming what the merged sections get wrong.
        """
        unknown = sorted(set(changes) - set(SECTIONS))
        if unknown:
            raise ValueError(f"not profile sections of Settings: {unknown}; known: {list(SECTIONS)}")
        data = deep_merge(self.sections(*SECTIONS), changes)
        return self.replace(**parse_profile(data).sections(SECTIONS))


def _plain(section: Any) -> Any:
    """A section as plain data (a copy): a model's keys as set, under their names in the profile."""
    if isinstance(section, BaseModel):
        return section.model_dump(by_alias=True, exclude_unset=True)
    return copy.deepcopy(section)


def _env_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _from_environment(profile: Profile, env: Mapping[str, str]) -> IngestionSection:
    """``ingestion`` with its environment overrides: the Data Docs folder and the court API's URL."""
    changes: dict[str, Any] = {}
    if "RISKPIPE_DATA_DOCS_DIR" in env:
        changes["data_docs_dir"] = env["RISKPIPE_DATA_DOCS_DIR"]
    if env.get("RISKPIPE_COURT_API_URL"):
        court_api = profile.ingestion.court_api.model_copy(update={"base_url": env["RISKPIPE_COURT_API_URL"]})
        changes["court_api"] = court_api
    return profile.ingestion.model_copy(update=changes)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Load settings from the default profile, ``RISKPIPE_PROFILE`` and env vars.

    Raises:
        riskpipe.core.profile.ProfileError: the merged profile has an unknown key or a wrong value.
    """
    env = os.environ if env is None else env
    data = _load_yaml(DEFAULT_PROFILE)
    sources: list[Path] = [DEFAULT_PROFILE]
    if env.get("RISKPIPE_PROFILE"):
        sources.append(Path(env["RISKPIPE_PROFILE"]))
        data = deep_merge(data, _load_yaml(sources[-1]))
    profile = parse_profile(data, sources=sources)
    spark, jars, mlflow_cfg = profile.spark, profile.jars, profile.mlflow
    spark_conf = {str(k): str(v) for k, v in spark.conf.items()}
    explicit_conf = parse_spark_conf(env.get("RISKPIPE_SPARK_CONF", ""))
    spark_conf.update(explicit_conf)
    tracking = env.get("MLFLOW_TRACKING_URI") or mlflow_cfg.tracking_uri
    if tracking.startswith("sqlite:///") and not tracking.startswith("sqlite:////"):
        tracking = "sqlite:///" + resolve_path(tracking[len("sqlite:///") :])
    return Settings(
        spark_master=env.get("RISKPIPE_SPARK_MASTER", spark.master),
        app_name=spark.app_name,
        driver_memory=env.get("RISKPIPE_DRIVER_MEMORY", str(spark.driver_memory)),
        executor_memory=env.get("RISKPIPE_EXECUTOR_MEMORY", str(spark.executor_memory)),
        shuffle_partitions=int(env.get("RISKPIPE_SHUFFLE_PARTITIONS", spark.shuffle_partitions)),
        ui_enabled=_env_bool(env.get("RISKPIPE_SPARK_UI", str(spark.ui_enabled))),
        spark_conf=spark_conf,
        lakehouse_root=resolve_path(env.get("RISKPIPE_LAKEHOUSE", profile.lakehouse_root)),
        landing_root=resolve_path(env.get("RISKPIPE_LANDING", profile.landing_root)),
        # extra_* lets a profile add jars (hadoop-aws) without repeating the default list
        jar_packages=_unique(jars.packages, jars.extra_packages),
        jar_fallback_artifacts=_unique(jars.fallback_artifacts, jars.extra_fallback_artifacts),
        jars_dir=resolve_path(env.get("RISKPIPE_JARS_DIR", jars.cache_dir)),
        mlflow_tracking_uri=tracking,
        mlflow_artifact_root=resolve_path(env.get("RISKPIPE_MLFLOW_ARTIFACT_ROOT", mlflow_cfg.artifact_root)),
        model_name=env.get("RISKPIPE_MODEL_NAME", mlflow_cfg.model_name),
        ingestion=_from_environment(profile, env),
        features=profile.features,
        scoring=profile.scoring,
        early_warnings=profile.early_warnings,
        report=profile.report,
        stress=profile.stress,
        default_definition=profile.default_definition,
        models=profile.models,
        classification=profile.classification,
        decisions=profile.decisions,
        monitoring=profile.monitoring,
        portfolio=profile.portfolio,
        maintenance=profile.maintenance,
        # the S3 variables beat the profile; a key given in RISKPIPE_SPARK_CONF beats both
        object_store_conf={k: v for k, v in object_store_conf(env).items() if k not in explicit_conf},
        jars_on_every_node=_env_bool(env.get("RISKPIPE_JARS_ON_EVERY_NODE", str(jars.on_every_node))),
    )


# Lakehouse schemes whose file system makes Delta's commit of version N a put-if-absent across
# processes (an atomic rename that fails when the target exists): two writers may commit at once,
# the loser retries on Delta's conflict check.
ATOMIC_COMMIT_SCHEMES = frozenset({"hdfs", "viewfs", "abfs", "abfss", "gs"})
S3_SCHEMES = frozenset({"s3", "s3a", "s3n"})
# Delta's log store for S3 that serialises commits through a DynamoDB table (io.delta:delta-storage-s3-dynamodb)
S3_MULTI_WRITER_LOG_STORE = "io.delta.storage.S3DynamoDBLogStore"
S3_SINGLE_DRIVER_LOG_STORE = "io.delta.storage.S3SingleDriverLogStore"


def single_writer_reason(settings: Settings) -> str | None:
    """Why only one process at a time may commit to the lakehouse's Delta tables, or None when more may.

    Delta commits version N by creating ``_delta_log/N.json`` only if it is absent. Whether two
    processes can both succeed depends on the lakehouse's file system and on the log store Delta
    uses for its scheme (``spark.delta.logStore.<scheme>.impl``).
    """
    root = settings.lakehouse_root
    scheme = urlsplit(root).scheme.lower() if "://" in root else "file"
    if scheme in ATOMIC_COMMIT_SCHEMES:
        return None
    if scheme in S3_SCHEMES:
        store = settings.spark_conf.get(f"spark.delta.logStore.{scheme}.impl") or settings.spark_conf.get(
            "spark.delta.logStore.class", S3_SINGLE_DRIVER_LOG_STORE
        )
        if store == S3_MULTI_WRITER_LOG_STORE:
            return None
        how = (
            "checks that a commit is absent and then writes it, under a lock held inside one JVM, so two "
            "processes can both write version N and one commit is lost"
            if store == S3_SINGLE_DRIVER_LOG_STORE
            else "is not one riskpipe knows to make a commit a put-if-absent across processes"
        )
        return (
            f"the lakehouse is on S3 ({root}) and Delta's log store for {scheme}:// is {store}: it {how}; "
            f"more writers need spark.delta.logStore.{scheme}.impl={S3_MULTI_WRITER_LOG_STORE} and its DynamoDB table"
        )
    if scheme == "file":
        return (
            f"the lakehouse is on a local file system ({root}): Delta commits by renaming onto "
            "N.json, and a local rename replaces a commit another process made in the meantime"
        )
    return (
        f"riskpipe does not know whether the {scheme}:// file system renames atomically without "
        "replacing an existing file, which Delta's default log store needs for more than one writer"
    )
