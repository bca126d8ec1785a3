"""The typed profile schema (riskpipe.core.profile): every profile loads, unknown keys and wrong values fail
at load naming their dotted path, environment variables still win. No Spark."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from riskpipe.core.config import REPO_ROOT, SECTIONS, load_settings
from riskpipe.core.profile import CourtApiSection, IngestionSection, ProfileError

PRODUCTION = REPO_ROOT / "conf" / "production.yaml"
# the profiles the test suite writes (tests/faults, tests/dags, tests/riskpipe, tests/test_production_like.py)
TEST_PROFILES = {
    "small_batch": "ingestion:\n  max_failure_rate: 0.5\n",
    "court_api_retries": (
        "ingestion:\n  court_api:\n    page_size: 5\n    timeout_seconds: 5\n"
        "    max_retries: 2\n    backoff_seconds: 0.01\n    max_pages: 5\n"
    ),
    "court_api_url": "ingestion:\n  court_api:\n    base_url: http://127.0.0.1:8799\n",
    "s3_endpoint": (
        "spark:\n  conf:\n    spark.hadoop.fs.s3a.endpoint: http://from-profile:9000\n"
        "    spark.hadoop.fs.s3a.path.style.access: 'false'\n"
    ),
    "production_like": (
        'features:\n  first_snapshot: "2020-06-30"\n'
        "models:\n  gate: {max_calibration_error: 0.08, max_score_psi: 0.6}\n"
    ),
    "yarn": "spark:\n  master: yarn\n  conf:\n    spark.executor.instances: '8'\nlakehouse_root: hdfs://nn/lake\n",
}


def _profile(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "profile.yaml"
    path.write_text(text, encoding="utf-8")
    return {"RISKPIPE_PROFILE": str(path)}


def test_the_default_profile_loads_into_typed_sections():
    settings = load_settings(env={})
    assert isinstance(settings.ingestion, IngestionSection)
    assert isinstance(settings.ingestion.court_api, CourtApiSection)
    assert settings.ingestion.max_failure_rate == 0.05
    assert settings.ingestion.core_banking.tables["loans"].incremental == "window"
    assert settings.scoring.alias == "champion" and settings.scoring.active_only is True
    assert settings.early_warnings.targets is not None and settings.early_warnings.targets.min_severity == "high"
    assert settings.features.first_snapshot is None
    assert settings.default_definition.dpd_over == 90
    assert settings.default_definition.statuses == ["restructured", "written_off"]
    assert settings.models.seed == 42 and settings.models.data.split_date == "2021-01-01"
    assert settings.models.calibration.jeffreys.red_confidence == 0.999
    assert settings.classification.dpd_floors[1].class_ == "substandard"
    assert settings.decisions.limit.grade_multiplier[3] == 0.9 and settings.decisions.grade_bands["refer"] == (7, 8)
    assert settings.monitoring.retrain.triggers == ["psi:score"]
    assert settings.portfolio.lgd.rules[0].collateral_type == "real_estate" and settings.portfolio.fund.balance == 5e7


def test_the_production_profile_loads():
    settings = load_settings(env={"RISKPIPE_PROFILE": str(PRODUCTION)})
    assert settings.spark_master == "spark://spark-master:7077"
    assert settings.jar_packages[-1] == "org.apache.hadoop:hadoop-aws:3.4.2"
    assert settings.lakehouse_root == "s3a://riskpipe/lakehouse"
    # a section the profile does not touch is the default one
    assert settings.ingestion == load_settings(env={}).ingestion


@pytest.mark.parametrize("name", sorted(TEST_PROFILES))
def test_the_test_suites_profiles_load(tmp_path, name):
    load_settings(env=_profile(tmp_path, TEST_PROFILES[name]))


def test_a_date_in_the_profile_becomes_a_date(tmp_path):
    settings = load_settings(env=_profile(tmp_path, TEST_PROFILES["production_like"]))
    assert settings.features.first_snapshot == dt.date(2020, 6, 30)


@pytest.mark.parametrize(
    "text, path",
    [
        ("ingestoin:\n  max_failure_rate: 0.1\n", "ingestoin"),
        ("ingestion:\n  max_failure_rat: 0.1\n", "ingestion.max_failure_rat"),
        ("ingestion:\n  court_api:\n    max_page: 3\n", "ingestion.court_api.max_page"),
        (
            "ingestion:\n  core_banking:\n    tables:\n      loans: {watermark: x}\n",
            "ingestion.core_banking.tables.loans.watermark",
        ),
        ("spark:\n  shuffle_partition: 4\n", "spark.shuffle_partition"),
        ("portfolio:\n  fund:\n    balanc: 10\n", "portfolio.fund.balanc"),
        ("classification:\n  ifrs9:\n    stage2: 30\n", "classification.ifrs9.stage2"),
        ("classification:\n  severity_floor: {}\n", "classification.severity_floor"),
        ("classification:\n  dpd_floors:\n    - {dpd: 0, clas: loss}\n", "classification.dpd_floors[0].clas"),
        ("default_definition:\n  dpd_ovr: 90\n", "default_definition.dpd_ovr"),
        ("models:\n  sed: 1\n", "models.sed"),
        ("models:\n  data:\n    tabel: x\n", "models.data.tabel"),
        ("models:\n  calibration:\n    jeffreys:\n      side: both\n", "models.calibration.jeffreys.side"),
        # mlflow.model_name and RISKPIPE_MODEL_NAME name the registered model, not the models section
        ("models:\n  name: other_pd\n", "models.name"),
        ("decisions:\n  limit:\n    max_amont: 1\n", "decisions.limit.max_amont"),
        (
            "decisions:\n  rules:\n    - {code: X, text: x, action: refer,\n"
            "       when: [{feature: tax_rating, op: '==', value: C, also: 1}]}\n",
            "decisions.rules[0].when[0].also",
        ),
        ("monitoring:\n  psi:\n    bin: 5\n", "monitoring.psi.bin"),
        ("monitoring:\n  retrain:\n    trigger: [psi]\n", "monitoring.retrain.trigger"),
        ("portfolio:\n  lgd:\n    rules:\n      - {collateral: land, lgd: 0.5}\n", "portfolio.lgd.rules[0].collateral"),
    ],
)
def test_an_unknown_key_fails_at_load_naming_its_dotted_path(tmp_path, text, path):
    with pytest.raises(ProfileError) as error:
        load_settings(env=_profile(tmp_path, text))
    assert f"{path}: unknown setting" in str(error.value)
    # the message says which files the profile came from
    assert "profile.yaml" in str(error.value) and "default.yaml" in str(error.value)


@pytest.mark.parametrize(
    "text, path, value",
    [
        ("spark:\n  shuffle_partitions: many\n", "spark.shuffle_partitions", "'many'"),
        ("ingestion:\n  max_failure_rate: five percent\n", "ingestion.max_failure_rate", "'five percent'"),
        ("ingestion:\n  on_new_column: evolv\n", "ingestion.on_new_column", "'evolv'"),
        ("ingestion:\n  court_api:\n    page_size: [1]\n", "ingestion.court_api.page_size", "[1]"),
        ("features:\n  first_snapshot: soon\n", "features.first_snapshot", "'soon'"),
        ("early_warnings:\n  watch_list_min_severity: severe\n", "early_warnings.watch_list_min_severity", "'severe'"),
        ("ingestion: [1, 2]\n", "ingestion", "[1, 2]"),
        ("default_definition:\n  dpd_over: ninety\n", "default_definition.dpd_over", "'ninety'"),
        ("default_definition:\n  statuses: restructured\n", "default_definition.statuses", "'restructured'"),
        ("models:\n  seed: 4.2\n", "models.seed", "4.2"),
        ("models:\n  kinds: scorecard\n", "models.kinds", "'scorecard'"),
        ("models:\n  register: maybe\n", "models.register", "'maybe'"),
        ("models:\n  scorecard:\n    pdo: true\n", "models.scorecard.pdo", "True"),
        ("models:\n  gate:\n    min_auc: high\n", "models.gate.min_auc", "'high'"),
        ("models:\n  data:\n    split_date: soon\n", "models.data.split_date", "'soon'"),
        ("classification:\n  dpd_floors: {dpd: 0}\n", "classification.dpd_floors", "{'dpd': 0}"),
        ("classification:\n  ifrs9:\n    stage2_dpd: 30.5\n", "classification.ifrs9.stage2_dpd", "30.5"),
        ("decisions:\n  limit:\n    sales_share: a quarter\n", "decisions.limit.sales_share", "'a quarter'"),
        ("decisions:\n  grade_bands: {approve: [1, 2, 3]}\n", "decisions.grade_bands.approve", "[1, 2, 3]"),
        (
            "decisions:\n  rules:\n    - {code: X, text: x, action: refer,\n"
            "       when: [{feature: tax_rating, op: in, value: {C: 1}}]}\n",
            "decisions.rules[0].when[0].value",
            "{'C': 1}",
        ),
        ("monitoring:\n  backtest:\n    window_months: a year\n", "monitoring.backtest.window_months", "'a year'"),
        ("monitoring:\n  retrain:\n    triggers: psi\n", "monitoring.retrain.triggers", "'psi'"),
        ("portfolio:\n  unscored_pd: thirty percent\n", "portfolio.unscored_pd", "'thirty percent'"),
        ("portfolio:\n  fund:\n    balance_by_product: {A: lots}\n", "portfolio.fund.balance_by_product.A", "'lots'"),
        ("portfolio:\n  lgd:\n    rules:\n      - {product: A}\n", "portfolio.lgd.rules[0].lgd", None),
    ],
)
def test_a_wrong_value_fails_at_load_naming_key_and_value(tmp_path, text, path, value):
    with pytest.raises(ProfileError) as error:
        load_settings(env=_profile(tmp_path, text))
    line = next(line for line in str(error.value).splitlines() if line.strip().startswith(f"{path}:"))
    assert line.endswith(f"got {value}") if value else line.endswith("required setting missing"), line


def test_null_takes_the_default_and_a_required_key_cannot_be_null(tmp_path):
    settings = load_settings(env=_profile(tmp_path, "ingestion:\n  court_api:\n    max_pages: null\n"))
    assert settings.ingestion.court_api.max_pages is None
    with pytest.raises(ProfileError, match=r"ingestion\.max_failure_rate: required setting missing"):
        load_settings(env=_profile(tmp_path, "ingestion:\n  max_failure_rate: null\n"))
    with pytest.raises(ProfileError, match=r"default_definition: required setting missing"):
        load_settings(env=_profile(tmp_path, "default_definition: null\n"))
    # a key under an alias (``class``, ``register``) takes its default too
    settings = load_settings(env=_profile(tmp_path, "models:\n  register: null\n  gate: {max_score_psi: null}\n"))
    assert settings.models.register_ is True and settings.models.gate.max_score_psi == 0.25


def test_removed_keys_reach_the_dataclass_that_names_their_replacement(tmp_path):
    from jobs.portfolio.config import PortfolioConfig
    from jobs.post_loan.loan_classification import ClassificationConfig
    from models.config import model_config

    settings = load_settings(env=_profile(tmp_path, "portfolio:\n  default_dpd: 90\n"))
    with pytest.raises(ValueError, match=r"portfolio\.default_dpd: a loan in default"):
        PortfolioConfig.from_settings(settings.sections("portfolio", "default_definition"))
    settings = load_settings(env=_profile(tmp_path, "classification:\n  ifrs9:\n    stage3_dpd: 90\n"))
    with pytest.raises(ValueError, match=r"classification\.ifrs9\.stage3_dpd: stage 3 is a loan in default"):
        ClassificationConfig.from_settings(settings.sections("classification", "default_definition"))
    settings = load_settings(env=_profile(tmp_path, "models:\n  validation:\n    pd_floor: 0.001\n"))
    with pytest.raises(ValueError, match=r"models\.validation: \['pd_floor'\] are set under models\.calibration"):
        model_config(settings)


def test_the_typed_defaults_are_those_of_the_dataclasses_the_jobs_build():
    """A key the profile leaves out means the same to code reading the section's attributes as to the job."""
    import dataclasses

    from jobs.assess.policy import DecisionConfig
    from jobs.features.default_definition import DefaultDefinition
    from jobs.model_monitoring.metrics import MonitoringConfig
    from jobs.portfolio.config import from_mapping
    from jobs.post_loan.loan_classification import ClassificationConfig
    from models.config import model_config
    from riskpipe.core.profile import (
        ClassificationSection,
        DecisionsSection,
        ModelsSection,
        MonitoringSection,
        PortfolioSection,
    )

    def every_key(section):
        # the removed keys' placeholders are None, like the other defaults of None the dataclasses share
        return section.model_dump(by_alias=True, exclude_none=True)

    assert DecisionConfig.from_mapping(every_key(DecisionsSection())) == DecisionConfig()
    assert MonitoringConfig.from_settings({"monitoring": every_key(MonitoringSection())}) == MonitoringConfig()
    definition = DefaultDefinition(dpd_over=90, statuses=("restructured",))
    assert from_mapping(every_key(PortfolioSection()), default_definition=definition) == from_mapping(
        {}, default_definition=definition
    )
    floors = {"dpd_floors": [{"dpd": 90, "class": "substandard"}]}
    raw = {"default_definition": dataclasses.asdict(definition)}
    assert ClassificationConfig.from_settings(
        {**raw, "classification": {**every_key(ClassificationSection()), **floors}}
    ) == ClassificationConfig.from_settings({**raw, "classification": floors})
    bare = load_settings(env={}).replace(models=ModelsSection())
    assert model_config(bare, every_key(ModelsSection())) == model_config(bare)


def test_environment_variables_beat_the_profile(tmp_path):
    env = {
        **_profile(tmp_path, "spark:\n  master: yarn\ningestion:\n  data_docs_dir: from/profile\n"),
        "RISKPIPE_SPARK_MASTER": "spark://10.0.0.1:7077",
        "RISKPIPE_DATA_DOCS_DIR": "",
        "RISKPIPE_COURT_API_URL": "http://10.0.0.2:8080",
        "RISKPIPE_MODEL_NAME": "sme_pd_env",
    }
    settings = load_settings(env=env)
    assert settings.spark_master == "spark://10.0.0.1:7077"
    assert settings.ingestion.data_docs_dir == ""
    assert settings.ingestion.court_api.base_url == "http://10.0.0.2:8080"
    assert settings.model_name == "sme_pd_env"
    # without the variables the profile's values hold
    profile_only = load_settings(env=_profile(tmp_path, "ingestion:\n  data_docs_dir: from/profile\n"))
    assert profile_only.ingestion.data_docs_dir == "from/profile"
    assert profile_only.ingestion.court_api.base_url == load_settings(env={}).ingestion.court_api.base_url


def test_settings_compare_by_value_and_sections_take_part():
    first, second = load_settings(env={}), load_settings(env={})
    assert first == second
    assert first.replace(lakehouse_root="/elsewhere") != first
    changed = first.merged({"ingestion": {"court_api": {"max_pages": 3}}})
    assert changed != first and changed.ingestion.court_api.max_pages == 3
    # the rest of the section is kept
    assert changed.ingestion.court_api.page_size == first.ingestion.court_api.page_size
    assert changed.replace(ingestion=first.ingestion) == first
    # sections are immutable: a change goes through merged() or replace()
    with pytest.raises(ValueError, match="frozen"):
        first.ingestion.max_failure_rate = 0.5  # type: ignore[misc]


def test_merged_validates_and_accepts_only_sections():
    settings = load_settings(env={})
    with pytest.raises(ProfileError, match=r"ingestion\.max_failure_rat: unknown setting"):
        settings.merged({"ingestion": {"max_failure_rat": 0.5}})
    with pytest.raises(ValueError, match="not profile sections"):
        settings.merged({"spark": {"master": "yarn"}})


def test_sections_are_plain_data_and_copies():
    settings = load_settings(env={})
    sections = settings.sections(*SECTIONS)
    assert sections["ingestion"]["court_api"]["page_size"] == settings.ingestion.court_api.page_size
    sections["models"]["seed"] = -1
    assert settings.models.seed != -1
    # what sections() gives, validated again, is the same settings
    assert settings.merged({}) == settings
    assert sections["classification"]["dpd_floors"][0] == {"dpd": 0, "class": "special_mention"}
