"""A lakehouse on s3a://: S3 environment variables, the production profile, its jars and its one writer (no S3 needed).

tests/test_s3_lakehouse.py runs the pipeline on a real S3-compatible server.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from riskpipe.airflow_env import delta_writer_slots, ensure_airflow_db
from riskpipe.cli import main as cli_main
from riskpipe.core import io
from riskpipe.core.config import REPO_ROOT, S3_MULTI_WRITER_LOG_STORE, load_settings, single_writer_reason
from riskpipe.core.jars import spark_home
from riskpipe.core.spark import spark_conf
from schemas.registry import get

PRODUCTION = str(REPO_ROOT / "conf" / "production.yaml")
S3_ENV = {
    "RISKPIPE_PROFILE": PRODUCTION,
    "RISKPIPE_LAKEHOUSE": "s3a://bank-risk-lake/riskpipe",
    "RISKPIPE_S3_ENDPOINT": "http://minio:9000",
    "RISKPIPE_S3_PATH_STYLE": "true",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "riskpipe-service",
    "AWS_SECRET_ACCESS_KEY": "not-a-real-secret",
}


def _conf_without_jars(settings) -> dict[str, str]:
    # hadoop-aws pulls the ~600 MB AWS SDK: check the configuration, never resolve it here
    return spark_conf(settings.replace(jar_packages=()))


def test_s3_environment_becomes_s3a_spark_conf():
    settings = load_settings(env=S3_ENV)
    conf = _conf_without_jars(settings)
    assert settings.lakehouse_root == "s3a://bank-risk-lake/riskpipe"
    assert {key: value for key, value in conf.items() if key.startswith("spark.hadoop.fs.s3a.")} == {
        "spark.hadoop.fs.s3a.endpoint": "http://minio:9000",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
        "spark.hadoop.fs.s3a.access.key": "riskpipe-service",
        "spark.hadoop.fs.s3a.secret.key": "not-a-real-secret",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
    }
    # the production profile itself still applies
    assert conf["spark.databricks.delta.optimizeWrite.enabled"] == "true"


def test_production_profile_adds_hadoop_aws_to_the_default_jars():
    default = load_settings(env={})
    production = load_settings(env=S3_ENV)
    assert production.jar_packages[: len(default.jar_packages)] == default.jar_packages
    assert [p for p in production.jar_packages if p not in default.jar_packages] == [
        "org.apache.hadoop:hadoop-aws:3.4.2"
    ]
    assert "software.amazon.awssdk:bundle:2.29.52" in production.jar_fallback_artifacts


def test_hadoop_aws_matches_the_hadoop_client_bundled_with_pyspark():
    bundled = sorted((spark_home() / "jars").glob("hadoop-client-api-*.jar"))
    assert bundled, f"no hadoop-client-api jar in {spark_home() / 'jars'}"
    hadoop_version = re.fullmatch(r"hadoop-client-api-(.+)\.jar", bundled[0].name).group(1)
    aws = [p for p in load_settings(env=S3_ENV).jar_packages if ":hadoop-aws:" in p]
    assert aws == [f"org.apache.hadoop:hadoop-aws:{hadoop_version}"]


def test_local_defaults_have_no_s3_settings_or_jars():
    settings = load_settings(env={})
    assert not any(key.startswith("spark.hadoop.fs.s3a.") for key in _conf_without_jars(settings))
    assert not any("hadoop-aws" in p for p in settings.jar_packages)
    assert settings.jars_on_every_node is False
    assert "://" not in settings.lakehouse_root


def test_precedence_profile_then_s3_variables_then_spark_conf(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "spark:\n  conf:\n    spark.hadoop.fs.s3a.endpoint: http://from-profile:9000\n"
        "    spark.hadoop.fs.s3a.path.style.access: 'false'\n"
    )
    env = dict(S3_ENV, RISKPIPE_PROFILE=str(profile), RISKPIPE_SPARK_CONF="spark.hadoop.fs.s3a.path.style.access=maybe")
    conf = _conf_without_jars(load_settings(env=env))
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://minio:9000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "maybe"


def test_session_token_selects_temporary_credentials_and_https_keeps_tls():
    env = dict(
        S3_ENV,
        RISKPIPE_S3_ENDPOINT="https://s3.example.internal",
        AWS_SESSION_TOKEN="tok",
        AWS_REGION="",
        AWS_DEFAULT_REGION="eu-west-1",
    )
    conf = load_settings(env=env).object_store_conf
    assert conf["spark.hadoop.fs.s3a.session.token"] == "tok"
    assert (
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"]
        == "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
    )
    assert conf["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-1"
    assert "spark.hadoop.fs.s3a.connection.ssl.enabled" not in conf


def test_credentials_stay_out_of_repr_and_riskpipe_info(monkeypatch, capsys):
    assert "not-a-real-secret" not in repr(load_settings(env=S3_ENV))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "riskpipe-service")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    assert cli_main(["info", "--spark-conf"]) == 0
    out = capsys.readouterr().out
    assert "not-a-real-secret" not in out and "riskpipe-service" not in out
    assert "spark.hadoop.fs.s3a.secret.key = <redacted>" in out


def test_jars_on_every_node_are_loaded_in_place():
    settings = load_settings(env={"RISKPIPE_JARS_ON_EVERY_NODE": "true"})
    jars = spark_conf(settings)["spark.jars"].split(",")
    assert jars and all(jar.startswith("local:/") and Path(jar[len("local:") :]).exists() for jar in jars)


@pytest.mark.parametrize("root", ["s3a://bank-risk-lake/riskpipe", "hdfs://namenode:8020/riskpipe"])
def test_object_store_tables_take_the_generic_delta_path(root):
    settings = load_settings(env={"RISKPIPE_LAKEHOUSE": root})
    spec = get("tax_filings")
    path = io.table_path(spec, settings=settings)
    assert path == f"{root}/{spec.layer}/{spec.name}"
    # ensure_table's shortcut looks at local disk only; a URI goes through Delta's own check
    assert io._local_log_exists(path) is False


SLOTS = {"RISKPIPE_DELTA_WRITER_SLOTS": "2"}
DYNAMODB_LOG_STORE = {"RISKPIPE_SPARK_CONF": f"spark.delta.logStore.s3a.impl={S3_MULTI_WRITER_LOG_STORE}"}


def test_production_profile_keeps_one_writer_on_s3():
    settings = load_settings(env=S3_ENV)
    assert settings.spark_conf["spark.delta.logStore.s3a.impl"] == "io.delta.storage.S3SingleDriverLogStore"
    assert delta_writer_slots(S3_ENV) == 1
    with pytest.raises(ValueError, match=r"cannot have 2 slots: the lakehouse is on S3 .*S3SingleDriverLogStore"):
        delta_writer_slots({**S3_ENV, **SLOTS})


def test_a_larger_pool_is_refused_before_airflow_is_touched(tmp_path):
    home = tmp_path / "airflow"
    with pytest.raises(ValueError, match="cannot have 3 slots"):
        ensure_airflow_db({**S3_ENV, "AIRFLOW_HOME": str(home)}, slots=3)
    assert not home.exists()


@pytest.mark.parametrize(
    "env",
    [
        {**S3_ENV, **DYNAMODB_LOG_STORE},
        {"RISKPIPE_LAKEHOUSE": "hdfs://namenode:8020/riskpipe"},
        {"RISKPIPE_LAKEHOUSE": "abfss://lake@bank.dfs.core.windows.net/riskpipe"},
    ],
)
def test_more_writers_where_a_commit_is_put_if_absent(env):
    assert single_writer_reason(load_settings(env=env)) is None
    assert delta_writer_slots({**env, **SLOTS}) == 2


@pytest.mark.parametrize(
    ("root", "why"),
    [("/data/riskpipe", "local file system"), ("oss://bank-lake/riskpipe", "does not know whether the oss://")],
)
def test_one_writer_elsewhere(root, why):
    assert why in single_writer_reason(load_settings(env={"RISKPIPE_LAKEHOUSE": root}))
    with pytest.raises(ValueError, match="cannot have 2 slots"):
        delta_writer_slots({"RISKPIPE_LAKEHOUSE": root, **SLOTS})


def test_another_log_store_on_s3_is_not_taken_on_trust():
    env = {**S3_ENV, "RISKPIPE_SPARK_CONF": "spark.delta.logStore.s3a.impl=com.example.OurLogStore"}
    assert "com.example.OurLogStore: it is not one riskpipe knows" in single_writer_reason(load_settings(env=env))
