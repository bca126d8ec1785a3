"""Settings files of the production stack (docker/), read the way docker compose reads them.

``docker/s3.env`` holds every S3 setting of docker/compose.yaml, defaults included; compose hands it
to each service that talks to S3. A test that needs the stack's S3 layout (bucket, region, path
style, where the lakehouse and the MLflow artifacts live) takes it from :func:`s3_settings` rather
than repeating it: tests/docker/test_compose_config.py checks that compose gives its services
exactly these values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
S3_ENV = DOCKER / "s3.env"

_ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")
_EXPRESSION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)


def s3_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The S3 settings of the stack: docker/s3.env with ``environ`` (docker/.env, the shell) over its defaults."""
    return read_env_file(S3_ENV, environ)


def read_env_file(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``NAME=VALUE`` lines of a compose env file, ``${NAME}`` and ``${NAME:-default}`` substituted.

    A name resolves as compose resolves it in an ``env_file``: from ``environ`` first (the project's
    environment), then from the lines above it in the file.

    Raises:
        ValueError: naming the file and line, for syntax this reader does not share with compose
            (quotes, inline comments, ``$NAME`` without braces, other operators) or an unset name.
    """
    environ = dict(environ or {})
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        match = _ASSIGNMENT.fullmatch(line)
        if match is None:
            raise ValueError(f"{where}: expected NAME=VALUE, got {raw!r}")
        name, value = match.groups()
        if value[:1] in ("'", '"') or " #" in value:
            raise ValueError(f"{where}: quotes and inline comments are not read here; write a bare value")
        values[name] = _substitute(value, lambda key: environ.get(key, values.get(key)), where)
    return values


def _substitute(text: str, lookup: Callable[[str], str | None], where: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("${", i):
            end = _closing_brace(text, i + 2, where)
            out.append(_expand(text[i + 2 : end], lookup, where))
            i = end + 1
        elif text[i] == "$":
            raise ValueError(f"{where}: write ${{NAME}} (or $$ for a literal $) in {text!r}")
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _closing_brace(text: str, start: int, where: str) -> int:
    depth = 1
    for j in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return j
    raise ValueError(f"{where}: unclosed ${{ in {text!r}")


def _expand(expression: str, lookup: Callable[[str], str | None], where: str) -> str:
    match = _EXPRESSION.fullmatch(expression)
    if match is None:
        raise ValueError(f"{where}: only ${{NAME}} and ${{NAME:-default}} are read here, not ${{{expression}}}")
    name, default = match.groups()
    value = lookup(name)
    if default is not None and not value:
        return _substitute(default, lookup, where)
    if value is None:
        raise ValueError(f"{where}: ${{{name}}} is neither in the environment nor defined above it")
    return value
