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
    assert settings.default_definition == {"dpd_over": 90, "statuses": ["restructured", "written_off"]}


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
    ],
)
def test_a_wrong_value_fails_at_load_naming_key_and_value(tmp_path, text, path, value):
    with pytest.raises(ProfileError) as error:
        load_settings(env=_profile(tmp_path, text))
    line = next(line for line in str(error.value).splitlines() if line.strip().startswith(f"{path}:"))
    assert line.endswith(f"got {value}"), line


def test_null_takes_the_default_and_a_required_key_cannot_be_null(tmp_path):
    settings = load_settings(env=_profile(tmp_path, "ingestion:\n  court_api:\n    max_pages: null\n"))
    assert settings.ingestion.court_api.max_pages is None
    with pytest.raises(ProfileError, match=r"ingestion\.max_failure_rate: required setting missing"):
        load_settings(env=_profile(tmp_path, "ingestion:\n  max_failure_rate: null\n"))


def test_removed_keys_reach_the_dataclass_that_names_their_replacement(tmp_path):
    from jobs.portfolio.config import PortfolioConfig

    settings = load_settings(env=_profile(tmp_path, "portfolio:\n  default_dpd: 90\n"))
    with pytest.raises(ValueError, match=r"portfolio\.default_dpd: a loan in default"):
        PortfolioConfig.from_settings(settings.sections("portfolio", "default_definition"))


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
    assert settings.models["seed"] != -1
