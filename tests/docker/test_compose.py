"""The production stack in docker/ is consistent with the repository (no Docker engine needed).

What a `docker compose up` would trip over first: a file, build context, variable or volume that
does not exist, a dependency on an unknown service, Airflow components configured differently, or
an image that installs other Python packages than the lock pins.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
S3_ENV = DOCKER / "s3.env"  # the S3 settings of every service that talks to S3 (env_file)
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERFILE = DOCKER / "Dockerfile"
IMAGE_ROOT = "/opt/riskpipe"  # where the Dockerfile puts the repository

REQUIRED_SERVICES = {
    "postgres",
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "spark-master",
    "spark-worker",
    "mlflow",
    "minio",
    "minio-init",
}
AIRFLOW_SERVICES = ("airflow-init", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor")
# ${NAME}, ${NAME:-default}, ${NAME:?error}; `$${NAME}` is an escaped literal for the container shell
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
ASSIGNMENT = re.compile(r"^#?\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|ACCESS_KEY")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _documented() -> dict[str, str]:
    found = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _host_path(source: str) -> Path:
    return (DOCKER / source).resolve()


def test_stack_has_every_component(services):
    assert REQUIRED_SERVICES <= set(services)


def test_every_service_has_an_image_or_a_build_whose_dockerfile_exists(services):
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name}: neither image nor build"
        build = service.get("build")
        if build:
            context = _host_path(build["context"] if isinstance(build, dict) else build)
            dockerfile = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert dockerfile.is_file(), f"{name}: Dockerfile {dockerfile} missing"


def test_bind_mounts_and_env_files_exist(services):
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                assert _host_path(source).exists(), f"{name}: mounted {source} missing"
        env_files = service.get("env_file", [])
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            path = env_file if isinstance(env_file, str) else env_file["path"]
            assert _host_path(path).exists(), f"{name}: env_file {path} missing"


def test_named_volumes_are_declared_and_used(compose, services):
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} not declared under volumes:"
                used.add(source)
    assert used == declared, f"declared but unused volumes: {declared - used}"


def test_every_variable_is_documented_in_env_example():
    s3_lines = [line for line in S3_ENV.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    used = set(VARIABLE.findall(COMPOSE.read_text(encoding="utf-8") + "\n".join(s3_lines)))
    documented = _documented()
    assert used - set(documented) == set(), "undocumented in docker/.env.example"
    assert set(documented) - used == set(), "documented in docker/.env.example but unused"


def test_env_example_commits_no_secret():
    secrets = {name: value for name, value in _documented().items() if SECRET_NAME.search(name)}
    assert secrets, "expected the example to list the secret variables"
    assert {name: value for name, value in secrets.items() if value.strip()} == {}


def test_required_secrets_fail_fast_when_unset():
    text = COMPOSE.read_text(encoding="utf-8")
    for name in _documented():
        if SECRET_NAME.search(name) and not name.startswith(("RISKPIPE_COURT", "RISKPIPE_CORE_BANKING")):
            uses = re.findall(r"\$\{" + name + r"(:?[-?][^}]*)?\}", text)
            assert uses and all(use.startswith(":?") for use in uses), f"{name} must be ${{{name}:?...}}"


def test_depends_on_targets_exist_with_the_state_they_wait_for(services):
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        for target, spec in depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends):
            assert target in services and target != name, f"{name} depends on unknown service {target}"
            condition = (spec or {}).get("condition", "service_started")
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", f"{target} is a one-shot job"


def test_airflow_services_share_one_image_and_configuration(services):
    airflow = {name: services[name] for name in AIRFLOW_SERVICES}
    assert len({(s["image"], repr(s.get("build"))) for s in airflow.values()}) == 1
    configs = {
        name: {k: v for k, v in _environment(s).items() if k.startswith("AIRFLOW__")} for name, s in airflow.items()
    }
    reference = configs["airflow-scheduler"]
    assert all(config == reference for config in configs.values()), configs
    assert reference["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert reference["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert reference["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-api-server:")
    commands = {name: " ".join(services[name]["command"]) for name in AIRFLOW_SERVICES[1:]}
    assert commands == {
        "airflow-api-server": "airflow api-server --port 8080",
        "airflow-scheduler": "airflow scheduler",
        "airflow-dag-processor": "airflow dag-processor",
    }


def test_spark_and_mlflow_run_the_riskpipe_image(services):
    image = services["airflow-scheduler"]["image"]
    for name in ("spark-master", "spark-worker", "mlflow"):
        assert services[name]["image"] == image, name
    assert _environment(services["mlflow"])["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    scheduler = _environment(services["airflow-scheduler"])
    assert scheduler["RISKPIPE_SPARK_MASTER"].endswith("spark://spark-master:7077}")
    # the lakehouse and the artifact store, resolved: tests/docker/test_compose_config.py


def test_paths_inside_the_image_exist_in_the_repository_and_the_build_context():
    text = COMPOSE.read_text(encoding="utf-8") + DOCKERFILE.read_text(encoding="utf-8")
    included = [
        line[1:] for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines() if line.startswith("!")
    ]
    for path in set(re.findall(IMAGE_ROOT + r"/([\w./-]+)", text)):
        if path.split("/")[0] in ("var", ".cache"):  # runtime state, created in the image
            continue
        assert (REPO / path).exists(), f"{IMAGE_ROOT}/{path} has no source in the repository"
        assert any((path + "/").startswith(pattern) or path.startswith(pattern) for pattern in included), (
            f"{path} is left out of the build context by docker/Dockerfile.dockerignore"
        )


def test_dockerfile_copies_existing_files():
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("COPY "):
            sources = [part for part in line.split()[1:-1] if not part.startswith("--")]
            for source in sources:
                assert (REPO / source).exists(), f"Dockerfile copies missing {source}"


def test_image_installs_exactly_the_locked_packages():
    installs = [
        line.strip()
        for line in re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8")).splitlines()
        if "pip install" in line
    ]
    pip_args = [re.search(r"pip install (.*?)(?:&&|$)", line).group(1).strip() for line in installs]
    assert pip_args == ["-r /tmp/build/requirements.lock", "--no-deps -e /opt/riskpipe"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "pip install --progress-bar off -r requirements.lock" in makefile


@pytest.mark.parametrize(
    "script, shell",
    [("postgres/init-databases.sh", "bash"), ("airflow/init.sh", "bash"), ("minio/create-bucket.sh", "sh")],
)
def test_scripts_parse(script, shell):
    # bash and sh are on every machine make runs on (the Makefile's SHELL is bash)
    result = subprocess.run([shell, "-n", str(DOCKER / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
