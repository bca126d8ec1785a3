"""Resolve the JVM jars (Delta Lake, PostgreSQL JDBC) once and cache them in the repo.

First choice is Spark's own resolver: ``spark-submit --packages`` with
``spark.jars.ivy`` pointing into the cache folder. If Ivy cannot reach the
repository, we fall back to ``mvn dependency:copy`` of each artifact listed in
``jars.fallback_artifacts``. Either way the resolved jar list is written to
``<cache>/resolved-<hash>.txt`` and every Spark session then uses plain
``spark.jars`` with local files, so later runs start without any download.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from riskpipe.core.config import Settings
from riskpipe.core.locks import exclusive_lock


class JarResolutionError(RuntimeError):
    """Neither Ivy nor Maven could provide the jars."""


def _key(packages: tuple[str, ...]) -> str:
    return hashlib.sha256(",".join(sorted(packages)).encode()).hexdigest()[:12]


def lock_file(settings: Settings) -> Path:
    return Path(settings.jars_dir) / f"resolved-{_key(settings.jar_packages)}.txt"


def spark_home() -> Path:
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def cached_jars(settings: Settings) -> list[str] | None:
    """Return the cached jar paths for the configured packages, or None."""
    lock = lock_file(settings)
    if not lock.exists():
        return None
    jars = [line.strip() for line in lock.read_text().splitlines() if line.strip()]
    if not jars or not all(Path(j).exists() for j in jars):
        return None
    return jars


def _resolve_with_ivy(settings: Settings) -> list[str]:
    ivy_dir = Path(settings.jars_dir) / f"ivy-{_key(settings.jar_packages)}"
    with tempfile.TemporaryDirectory() as tmp:
        noop = Path(tmp) / "noop.py"
        noop.write_text("print('jars resolved')\n")
        cmd = [
            str(spark_home() / "bin" / "spark-submit"),
            "--master",
            "local[1]",
            "--conf",
            f"spark.jars.ivy={ivy_dir}",
            "--conf",
            "spark.ui.enabled=false",
            "--packages",
            ",".join(settings.jar_packages),
            str(noop),
        ]
        env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if proc.returncode != 0:
        raise JarResolutionError(f"Ivy resolution failed:\n{proc.stderr[-3000:]}")
    jars = sorted(str(p) for p in (ivy_dir / "jars").glob("*.jar"))
    if not jars:
        raise JarResolutionError(f"Ivy resolution produced no jars in {ivy_dir / 'jars'}")
    return jars


def _resolve_with_maven(settings: Settings) -> list[str]:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarResolutionError("Ivy failed and `mvn` is not installed for the fallback")
    out_dir = Path(settings.jars_dir) / "mvn"
    out_dir.mkdir(parents=True, exist_ok=True)
    for artifact in settings.jar_fallback_artifacts:
        cmd = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={artifact}", f"-DoutputDirectory={out_dir}"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise JarResolutionError(f"mvn dependency:copy {artifact} failed:\n{proc.stdout[-2000:]}")
    names = {a.split(":")[1] + "-" + a.split(":")[2] + ".jar" for a in settings.jar_fallback_artifacts}
    return sorted(str(out_dir / name) for name in names)


def ensure_jars(*, settings: Settings, verbose: bool = False) -> list[str]:
    """Return local jar paths for the configured packages, resolving them once.

    Safe to call from concurrent processes: resolution holds a file lock.
    """
    if not settings.jar_packages:
        return []
    jars = cached_jars(settings)
    if jars is not None:
        return jars
    with exclusive_lock(Path(settings.jars_dir) / ".lock"):
        jars = cached_jars(settings)
        if jars is not None:
            return jars
        if verbose:
            print(f"Resolving {', '.join(settings.jar_packages)} with Spark's Ivy ...", flush=True)
        try:
            jars = _resolve_with_ivy(settings)
        except (JarResolutionError, subprocess.TimeoutExpired) as exc:
            if verbose:
                print(f"{exc}\nFalling back to mvn dependency:copy ...", flush=True)
            jars = _resolve_with_maven(settings)
        lock_file(settings).write_text("\n".join(jars) + "\n")
    if verbose:
        print("Jars cached:\n  " + "\n  ".join(jars), flush=True)
    return jars
