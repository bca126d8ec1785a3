"""Library code takes its settings and Spark session from the caller.

The entry points (CLI commands, DAG tasks, the benchmark, the test fixtures) load the settings
once with ``riskpipe.core.config.load_settings`` and start Spark with
``riskpipe.core.spark.get_spark(settings=settings, app_name=...)``; ``jobs/``, ``models/`` and
``expectations/`` receive both as parameters. A module there that loads settings, starts or looks
up a Spark session, or reads the environment would pick up whatever the process happens to hold
(another lakehouse, another profile) instead of what its caller chose. The scan reads the source
with ``ast``: no module is imported.

The core functions that take the settings (all of ``riskpipe.core.io``, ``get_spark``, ``ensure_jars``)
require them as a keyword: without a default they cannot fall back to loading them themselves.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIBRARY = ("jobs", "models", "expectations")
FORBIDDEN_CALLS = ("load_settings", "get_spark", "getOrCreate", "getActiveSession")
ENVIRONMENT = ("environ", "environb", "getenv")

# (module, what) that must stay, each with its reason. An entry that no longer matches fails the
# test too, so the list cannot outlive the code it excuses.
ALLOWED = {
    # Great Expectations reads this switch when it is first imported, so the package sets it
    # (setdefault: an explicit value wins) before any of its modules imports the library.
    ("expectations/__init__.py", "os.environ"),
}


def violations(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` of every settings load, Spark session lookup and environment read in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in FORBIDDEN_CALLS:
                found.append((node.lineno, name))
            elif isinstance(func, ast.Name) and name in ENVIRONMENT:  # from os import getenv
                found.append((node.lineno, f"os.{name}"))
        elif isinstance(node, ast.Attribute):
            if node.attr in ENVIRONMENT and isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append((node.lineno, f"os.{node.attr}"))
            elif node.attr == "builder" and isinstance(node.value, ast.Name) and node.value.id == "SparkSession":
                found.append((node.lineno, "SparkSession.builder"))
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [(node.lineno, f"os.{a.name}") for a in node.names if a.name in ENVIRONMENT]
    return sorted(set(found))


def library_modules() -> list[Path]:
    return sorted(p for package in LIBRARY for p in (REPO / package).rglob("*.py"))


def test_library_code_takes_settings_and_spark_from_its_caller():
    offending, excused = [], set()
    for path in library_modules():
        module = path.relative_to(REPO).as_posix()
        for line, what in violations(path.read_text(encoding="utf-8")):
            if (module, what) in ALLOWED:
                excused.add((module, what))
            else:
                offending.append(f"{module}:{line}: {what}")
    assert offending == [], "pass settings / spark in from the entry point instead:\n" + "\n".join(offending)
    assert excused == ALLOWED, f"allow-list entries that match nothing any more: {sorted(ALLOWED - excused)}"


BAD = {
    "settings fallback": "def run(settings=None):\n    settings = settings or load_settings()\n",
    "module-qualified load": "from riskpipe.core import config\nSETTINGS = config.load_settings()\n",
    "own session": "def main(settings):\n    spark = get_spark(settings=settings, app_name='x')\n",
    "active session": "from pyspark.sql import SparkSession\nspark = SparkSession.getActiveSession()\n",
    "builder": "from pyspark.sql import SparkSession\nspark = SparkSession.builder.master('local').getOrCreate()\n",
    "environ read": "import os\nroot = os.environ['RISKPIPE_LAKEHOUSE']\n",
    "environ get": "import os\nroot = os.environ.get('RISKPIPE_LAKEHOUSE', '/tmp')\n",
    "getenv": "import os\nroot = os.getenv('RISKPIPE_LAKEHOUSE')\n",
    "imported getenv": "from os import getenv\nroot = getenv('RISKPIPE_LAKEHOUSE')\n",
    "imported environ": "from os import environ\nroot = environ['RISKPIPE_LAKEHOUSE']\n",
}


@pytest.mark.parametrize("source", BAD.values(), ids=BAD.keys())
def test_the_scan_finds_each_way_of_getting_settings_spark_or_the_environment(source):
    assert violations(source)


def test_the_scan_lets_passed_in_settings_and_spark_through():
    source = (
        "import os\n"
        "def run(as_of, *, settings, spark):\n"
        "    path = os.path.join(settings.lakehouse_root, 'x')\n"
        "    return spark.read.format('delta').load(path), settings.sections('portfolio')\n"
    )
    assert violations(source) == []


# Modules whose functions take the settings as a required keyword: every function of ``io`` that has a
# ``settings`` parameter, and the named functions elsewhere (their private helpers take them positionally).
SETTINGS_REQUIRED = {
    "riskpipe/core/io.py": None,
    "riskpipe/core/spark.py": {"get_spark"},
    "riskpipe/core/jars.py": {"ensure_jars"},
}


def settings_parameters(source: str) -> dict[str, str]:
    """How each function in ``source`` with a ``settings`` parameter takes it: ``"keyword"`` (keyword-only,
    no default), ``"positional"`` or ``"default"`` (a default, of either kind)."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        args = node.args
        positional = args.posonlyargs + args.args
        defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults) :], args.defaults))
        defaults.update((a.arg, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None)
        if "settings" in defaults:
            found[node.name] = "default"
        elif any(a.arg == "settings" for a in positional):
            found[node.name] = "positional"
        elif any(a.arg == "settings" for a in args.kwonlyargs):
            found[node.name] = "keyword"
    return found


def test_core_functions_require_the_settings_as_a_keyword():
    wrong = []
    for module, names in SETTINGS_REQUIRED.items():
        found = settings_parameters((REPO / module).read_text(encoding="utf-8"))
        checked = found if names is None else {name: found.get(name, "missing") for name in names}
        assert checked, f"{module}: no function takes settings"
        wrong += [f"{module}: {name} takes settings {how}" for name, how in checked.items() if how != "keyword"]
    assert wrong == [], "make settings a required keyword (``*, settings: Settings``):\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("source", "how"),
    [
        ("def read(spark, table, settings=None): ...", "default"),
        ("def read(spark, table, *, settings: Settings | None = None): ...", "default"),
        ("def read(spark, table, settings): ...", "positional"),
        ("def read(spark, table, *, version=None, settings): ...", "keyword"),
    ],
)
def test_the_settings_scan_tells_how_a_function_takes_them(source, how):
    assert settings_parameters(source) == {"read": how}
