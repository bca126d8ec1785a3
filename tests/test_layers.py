"""The layer contract of pyproject.toml ([tool.importlinter]) holds, and it catches an import that breaks it."""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contract(contract_id: str) -> dict:
    return next(contract for contract in CONFIG["contracts"] if contract["id"] == contract_id)


def _layer_modules(contract: dict) -> set[str]:
    return {name.strip() for layer in contract["layers"] for name in layer.replace(":", "|").split("|")}


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the packages under ``root`` with the contracts of ``root/pyproject.toml``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def lint_imports_available() -> None:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the dev extra (import-linter)")


def test_the_tree_keeps_the_layer_contracts(lint_imports_available):
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_job_importing_the_cli_breaks_the_contract(lint_imports_available, tmp_path):
    for package in CONFIG["root_packages"]:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    job = tmp_path / "jobs" / "silver" / "conform.py"
    job.write_text(job.read_text(encoding="utf-8") + "\nimport riskpipe.cli  # noqa: E402\n", encoding="utf-8")

    result = _lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert "jobs.silver.conform -> riskpipe.cli" in result.stdout


def test_a_silver_builder_importing_ingestion_breaks_the_stage_contract(lint_imports_available, tmp_path):
    for package in CONFIG["root_packages"]:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    job = tmp_path / "jobs" / "silver" / "loans.py"
    job.write_text(job.read_text(encoding="utf-8") + "\nimport jobs.ingest.bronze  # noqa: E402\n", encoding="utf-8")

    result = _lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "jobs.silver.loans -> jobs.ingest.bronze" in result.stdout


@pytest.mark.parametrize(
    ("package", "contract_id"),
    [("riskpipe", "layers"), ("jobs", "jobs-stages")],
)
def test_every_module_of_a_package_is_in_a_layer(package, contract_id):
    """A new module outside the layers would be checked by no contract."""
    contract = _contract(contract_id)
    prefix = "" if contract.get("containers") else f"{package}."
    layered = _layer_modules(contract)
    children = {f"{prefix}{module.name}" for module in pkgutil.iter_modules([str(REPO / package)])}
    assert children <= layered, f"not in any layer of contract {contract_id!r}: {sorted(children - layered)}"
