from pathlib import Path

import pytest

from riskpipe.core.config import REPO_ROOT, load_settings, parse_spark_conf
from riskpipe.core.spark import spark_conf


def test_defaults_suit_a_small_machine():
    settings = load_settings(env={})
    assert settings.spark_master == "local[*]"
    assert settings.shuffle_partitions <= 16
    assert settings.lakehouse_root == str(REPO_ROOT / "var" / "lakehouse")
    assert settings.mlflow_tracking_uri == f"sqlite:///{REPO_ROOT / 'var' / 'mlflow' / 'mlflow.db'}"


def test_environment_overrides_every_spark_setting():
    env = {
        "RISKPIPE_SPARK_MASTER": "spark://10.0.0.1:7077",
        "RISKPIPE_LAKEHOUSE": "s3a://bank-lake/riskpipe",
        "RISKPIPE_DRIVER_MEMORY": "12g",
        "RISKPIPE_SHUFFLE_PARTITIONS": "64",
        "RISKPIPE_SPARK_UI": "false",
        "RISKPIPE_SPARK_CONF": "spark.hadoop.fs.s3a.endpoint=http://minio:9000; spark.sql.adaptive.enabled=false",
    }
    settings = load_settings(env=env)
    assert settings.spark_master == "spark://10.0.0.1:7077"
    assert settings.lakehouse_root == "s3a://bank-lake/riskpipe"
    conf = spark_conf(settings)
    assert conf["spark.driver.memory"] == "12g"
    assert conf["spark.sql.shuffle.partitions"] == "64"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"
    assert conf["spark.sql.adaptive.enabled"] == "false"
    assert conf["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert all(Path(j).exists() for j in conf["spark.jars"].split(","))


def test_profile_file_is_merged(tmp_path):
    profile = tmp_path / "prod.yaml"
    profile.write_text(
        "spark:\n  master: yarn\n  conf:\n    spark.executor.instances: '8'\nlakehouse_root: hdfs://nn/lake\n"
    )
    settings = load_settings(env={"RISKPIPE_PROFILE": str(profile)})
    assert settings.spark_master == "yarn"
    assert settings.lakehouse_root == "hdfs://nn/lake"
    assert settings.spark_conf["spark.executor.instances"] == "8"
    # keys not in the profile keep their defaults
    assert settings.spark_conf["spark.sql.adaptive.enabled"] == "true"


def test_bad_spark_conf_names_the_pair():
    with pytest.raises(ValueError, match="nonsense"):
        parse_spark_conf("spark.a=1;nonsense")


def test_missing_profile_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="profile not found"):
        load_settings(env={"RISKPIPE_PROFILE": str(tmp_path / "nope.yaml")})
