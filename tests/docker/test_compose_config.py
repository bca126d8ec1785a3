"""docker/compose.yaml as Compose itself reads it: `docker compose config`, no Docker engine needed.

The tool is tests/docker/compose-config, the compose-spec loader run as the `config` command of the
Compose CLI runs it (built once by tests/docker/build-compose-config.sh). It validates the file
against the Compose schema, interpolates the variables, checks volumes, dependencies and env files,
and prints the normalized project; these tests check that project against what the rest of the
repository takes for granted: the riskpipe settings the scheduler's tasks get, the host ports
docs/operations.md names, the paths the image and the jobs use, and the S3 settings of docker/s3.env.

The tool runs in an empty environment: the stack sees what docker/.env gives it, not the test
runner's shell.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest

from riskpipe.core.config import load_settings, resolve_path
from tests.docker.stack import DOCKER, REPO, read_env_file, s3_settings

COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
BUILD = REPO / "tests" / "docker" / "build-compose-config.sh"
IMAGE_ROOT = PurePosixPath("/opt/riskpipe")  # where docker/Dockerfile puts the repository

SERVICES = {
    "postgres",
    "minio",
    "minio-init",
    "mlflow",
    "spark-master",
    "spark-worker",
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
}
AIRFLOW = ("airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor")
S3_CLIENTS = (*AIRFLOW, "mlflow", "minio-init")
# host port -> port in the container, as docs/operations.md's table of services lists them
PUBLISHED = {
    "airflow-api-server": {"8080": 8080},
    "mlflow": {"5000": 5000},
    "spark-master": {"8081": 8080},
    "minio": {"9001": 9001},
}
MISSING = re.compile(r"required variable (\w+) is missing a value: set \1 in docker/\.env")
ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.MULTILINE)


@pytest.fixture(scope="module")
def compose_config() -> Path:
    result = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.fail(f"{BUILD.relative_to(REPO)} failed:\n{result.stderr}", pytrace=False)
    return Path(result.stdout.strip().splitlines()[-1])


def _config(tool: Path, *env_files: Path, compose: Path = COMPOSE) -> subprocess.CompletedProcess[str]:
    args = [str(tool), "--project-directory", str(DOCKER), "-f", str(compose), "--format", "json"]
    for env_file in env_files:
        args += ["--env-file", str(env_file)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env={}, cwd=REPO)


def _project(tool: Path, *env_files: Path) -> dict:
    result = _config(tool, *env_files)
    assert result.returncode == 0, f"compose config of {COMPOSE.relative_to(REPO)}:\n{result.stderr}"
    assert "variable is not set" not in result.stderr, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def required(compose_config) -> list[str]:
    """The variables docker/.env must set: what compose refuses to start without."""
    result = _config(compose_config, ENV_EXAMPLE)
    assert result.returncode != 0, "docker/.env.example as it is (secrets empty) must not pass"
    return sorted(set(MISSING.findall(result.stderr)))


@pytest.fixture(scope="module")
def secrets(required) -> dict[str, str]:
    # a distinct value each, so that the tests can follow where each one ends up
    return {name: f"{name.lower().replace('_', '-')}-value" for name in required}


@pytest.fixture(scope="module")
def filled_env(tmp_path_factory, secrets) -> Path:
    """docker/.env as the README says to make it: .env.example with its empty required values filled."""
    text = ASSIGNMENT.sub(
        lambda m: f"{m[1]}={secrets[m[1]]}" if m[1] in secrets and not m[2] else m[0],
        ENV_EXAMPLE.read_text(encoding="utf-8"),
    )
    path = tmp_path_factory.mktemp("compose") / ".env"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def project(compose_config, filled_env) -> dict:
    return _project(compose_config, filled_env)


def _env(project: dict, service: str) -> dict[str, str]:
    return project["services"][service].get("environment") or {}


def _mounts(project: dict, service: str) -> dict[str, dict]:
    return {volume["target"]: volume for volume in project["services"][service].get("volumes", [])}


def _in_image(local_path: str) -> str:
    """Where a path of this checkout is inside the image."""
    return str(IMAGE_ROOT / Path(local_path).relative_to(REPO))


def _task_settings(project: dict):
    """The riskpipe settings of a task in the scheduler container (the image sets RISKPIPE_PROFILE)."""
    profile = re.search(r"RISKPIPE_PROFILE=(\S+)", (DOCKER / "Dockerfile").read_text(encoding="utf-8"))
    assert profile, "docker/Dockerfile sets RISKPIPE_PROFILE"
    local_profile = REPO / PurePosixPath(profile[1]).relative_to(IMAGE_ROOT)
    return load_settings(env={**_env(project, "airflow-scheduler"), "RISKPIPE_PROFILE": str(local_profile)})


def test_required_variables_are_the_secrets_env_example_leaves_empty(required, compose_config):
    example = dict(ASSIGNMENT.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))
    assert required, "compose must refuse to start without its secrets"
    assert {name: example.get(name) for name in required} == dict.fromkeys(required, "")
    stderr = _config(compose_config, ENV_EXAMPLE).stderr
    # every error line names the variable and where to set it
    errors = [line for line in stderr.splitlines() if line.strip()]
    assert all(MISSING.search(line) for line in errors), stderr


def test_the_stack_is_valid_and_every_other_variable_has_its_documented_default(
    compose_config, project, secrets, tmp_path
):
    # only the required secrets: every other ${VAR} must fall back to a default without a warning,
    # and to the value docker/.env.example shows for it
    only_secrets = tmp_path / "secrets.env"
    only_secrets.write_text("".join(f"{name}={value}\n" for name, value in secrets.items()), encoding="utf-8")
    assert _project(compose_config, only_secrets) == project


def test_stack_has_exactly_its_services(project):
    assert set(project["services"]) == SERVICES
    assert project["name"] == "riskpipe"


def test_published_ports_are_the_documented_ones(project):
    published = {
        name: {port["published"]: port["target"] for port in service.get("ports", [])}
        for name, service in project["services"].items()
        if service.get("ports")
    }
    assert published == PUBLISHED
    # docs/operations.md: | `service`, `service` | role | host port (what it is) |
    documented = {}
    for line in (REPO / "docs" / "operations.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[2][:1].isdigit():
            documented.update(dict.fromkeys(re.findall(r"`([\w-]+)`", cells[0]), cells[2].split()[0]))
    assert {name: documented.get(name) for name in PUBLISHED} == {name: next(iter(p)) for name, p in PUBLISHED.items()}


def test_scheduler_tasks_get_the_stack_they_run_in(project):
    settings = _task_settings(project)
    master = project["services"]["spark-master"]["command"]
    assert settings.spark_master == f"spark://{master[master.index('--host') + 1]}:{master[master.index('--port') + 1]}"
    assert settings.mlflow_tracking_uri == f"http://mlflow:{_env(project, 'mlflow')['MLFLOW_PORT']}"
    s3 = s3_settings()
    assert settings.lakehouse_root == f"s3a://{s3['RISKPIPE_S3_BUCKET']}/lakehouse"
    minio_init = _env(project, "minio-init")
    assert settings.object_store_conf == {
        "spark.hadoop.fs.s3a.endpoint": s3["RISKPIPE_S3_ENDPOINT"],
        "spark.hadoop.fs.s3a.endpoint.region": s3["AWS_REGION"],
        "spark.hadoop.fs.s3a.path.style.access": s3["RISKPIPE_S3_PATH_STYLE"],
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",  # an http:// endpoint
        # the service account minio-init creates
        "spark.hadoop.fs.s3a.access.key": minio_init["RISKPIPE_S3_ACCESS_KEY"],
        "spark.hadoop.fs.s3a.secret.key": minio_init["RISKPIPE_S3_SECRET_KEY"],
    }
    # the default endpoint is the bundled MinIO's S3 API, on MinIO's own port
    endpoint = urlsplit(s3["RISKPIPE_S3_ENDPOINT"])
    assert (endpoint.hostname, endpoint.port) == ("minio", 9000)
    assert "--address" not in project["services"]["minio"]["command"]


def test_services_share_their_credentials_through_docker_env(project, secrets):
    airflow, mlflow, minio_init, postgres = (
        _env(project, name) for name in ("airflow-scheduler", "mlflow", "minio-init", "postgres")
    )
    # the S3 service account minio-init creates is the one Spark and MLflow use
    for env in (airflow, mlflow):
        assert env["AWS_ACCESS_KEY_ID"] == minio_init["RISKPIPE_S3_ACCESS_KEY"] == secrets["RISKPIPE_S3_ACCESS_KEY"]
        assert env["AWS_SECRET_ACCESS_KEY"] == minio_init["RISKPIPE_S3_SECRET_KEY"]
    assert minio_init["MINIO_ROOT_PASSWORD"] == _env(project, "minio")["MINIO_ROOT_PASSWORD"]
    # the database roles postgres creates on first start are the ones Airflow and MLflow log in as
    airflow_db, mlflow_db = airflow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], mlflow["MLFLOW_BACKEND_STORE_URI"]
    assert airflow_db.endswith(f"://airflow:{postgres['AIRFLOW_DB_PASSWORD']}@postgres:5432/airflow")
    assert mlflow_db.endswith(f"://mlflow:{postgres['MLFLOW_DB_PASSWORD']}@postgres:5432/mlflow")


def test_volumes_are_mounted_where_the_image_and_the_jobs_expect_them(project):
    assert {key: volume["name"] for key, volume in project["volumes"].items()} == {
        key: f"riskpipe_{key}" for key in ("postgres-data", "minio-data", "airflow-home", "landing", "data-docs")
    }
    settings = _task_settings(project)
    # the Data Docs folder as jobs/ingest/batch.py resolves it
    landing, data_docs = _in_image(settings.landing_root), _in_image(resolve_path(settings.ingestion.data_docs_dir))
    scheduler = _mounts(project, "airflow-scheduler")
    assert scheduler[landing]["source"] == "landing" and not scheduler[landing].get("read_only")
    assert scheduler[data_docs]["source"] == "data-docs"
    # executors read the landing files at the driver's path
    worker = _mounts(project, "spark-worker")[landing]
    assert worker["source"] == "landing" and worker["read_only"]
    for name in AIRFLOW:
        assert _mounts(project, name)["/opt/airflow"]["source"] == "airflow-home"
        assert _env(project, name)["AIRFLOW_HOME"] == "/opt/airflow"
    # bind mounts: the loader made them absolute; each is a file of this checkout
    binds = [v for s in project["services"].values() for v in s.get("volumes", []) if v["type"] == "bind"]
    assert binds and all(Path(v["source"]).is_file() and v["read_only"] for v in binds), binds


def test_s3_settings_come_from_docker_s3_env_alone(project):
    settings = s3_settings()
    for name in S3_CLIENTS:
        env = _env(project, name)
        assert {key: env.get(key) for key in settings} == settings, name
    compose = COMPOSE.read_text(encoding="utf-8")
    assert not set(re.findall(r"\$\{(\w+)", compose)) & set(settings), "compose.yaml repeats a setting of s3.env"
    assert "minio:9000" not in compose


def test_s3_settings_follow_docker_env(compose_config, filled_env, tmp_path):
    override = {"RISKPIPE_S3_BUCKET": "bank-lake", "RISKPIPE_S3_ENDPOINT": "http://objects:9000"}
    env_file = tmp_path / ".env"
    env_file.write_text(
        filled_env.read_text(encoding="utf-8") + "".join(f"{k}={v}\n" for k, v in override.items()), encoding="utf-8"
    )
    project = _project(compose_config, env_file)
    settings = s3_settings(override)
    assert settings["RISKPIPE_LAKEHOUSE"] == "s3a://bank-lake/lakehouse"
    assert settings["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://bank-lake/mlflow"
    assert settings["MLFLOW_S3_ENDPOINT_URL"] == "http://objects:9000"
    for name in S3_CLIENTS:
        assert {key: _env(project, name).get(key) for key in settings} == settings, name


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = COMPOSE.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is no longer in {COMPOSE.name}: update the broken copy"
    copy = tmp_path / "compose.yaml"
    copy.write_text(text.replace(old, new, 1), encoding="utf-8")
    return copy


@pytest.mark.parametrize(
    "old, new, message",
    [
        pytest.param(
            "      - landing:/opt/riskpipe/var/landing:ro",
            "      - landng:/opt/riskpipe/var/landing:ro",
            'service "spark-worker" refers to undefined volume landng: invalid compose project',
            id="undefined-volume",
        ),
        pytest.param(
            "      timeout: 5s\n      retries: 10",
            "      timeout: 5s\n      retry: 10",
            "validating {file}: services.postgres.healthcheck additional properties 'retry' not allowed",
            id="unknown-key",
        ),
        pytest.param(
            "      mlflow:\n        condition: service_healthy",
            "      mlfow:\n        condition: service_healthy",
            'service "airflow-scheduler" depends on undefined service "mlfow": invalid compose project',
            id="undefined-dependency",
        ),
        pytest.param(
            "  env_file: [s3.env]",
            "  env_file: [s3-settings.env]",
            "env file {docker}/s3-settings.env not found",
            id="missing-env-file",
        ),
    ],
)
def test_a_broken_copy_fails_with_composes_message(compose_config, filled_env, tmp_path, old, new, message):
    copy = _broken_copy(tmp_path, old, new)
    result = _config(compose_config, filled_env, compose=copy)
    assert result.returncode == 1, result.stdout
    assert message.format(file=copy, docker=DOCKER) in result.stderr
    assert result.stdout == ""


def test_s3_env_reader_refuses_what_compose_would_read_differently(tmp_path):
    good = tmp_path / "good.env"
    good.write_text("A=${A:-x}\nB=${B:-s3a://${A}/y}\nC=$${A}\n", encoding="utf-8")
    assert read_env_file(good) == {"A": "x", "B": "s3a://x/y", "C": "${A}"}
    assert read_env_file(good, {"A": "z"}) == {"A": "z", "B": "s3a://z/y", "C": "${A}"}
    for line in ('A="quoted"', "A=value # comment", "A=$B", "A=${B:?required}", "A=${B}"):
        bad = tmp_path / "bad.env"
        bad.write_text(f"# S3\n{line}\n", encoding="utf-8")
        with pytest.raises(ValueError, match=re.escape(f"{bad}:2:")):
            read_env_file(bad)
