"""Packaging: one metadata file, a lock inside its ranges, and a Delta jar of the installed version."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from riskpipe.core.config import load_settings

REPO = Path(__file__).resolve().parents[1]


def _locked() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_the_lock_pins_every_declared_requirement_inside_its_range():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        declared += extra
    locked = _locked()
    for text in declared:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"requirements.lock does not pin {requirement.name} (make lock)"
        assert requirement.specifier.contains(locked[name]), (
            f"requirements.lock pins {requirement.name}=={locked[name]} outside {requirement.specifier} (make lock)"
        )
    assert not (REPO / "setup.cfg").exists(), "pyproject.toml is the one metadata file"


def test_the_delta_jar_has_the_version_of_the_installed_delta_spark():
    installed = importlib.metadata.version("delta-spark")
    packages = load_settings({}).jar_packages
    delta = [coordinate for coordinate in packages if coordinate.startswith("io.delta:delta-spark_")]
    assert delta and all(coordinate.endswith(f":{installed}") for coordinate in delta), packages
    assert not any("{" in coordinate for coordinate in packages)
