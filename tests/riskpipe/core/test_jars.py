"""The jar cache: Ivy first, and the `mvn dependency:copy` fallback into the same folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from riskpipe.core.config import load_settings
from riskpipe.core.jars import _resolve_with_maven, cached_jars, ensure_jars, lock_file


def test_jars_are_cached_so_later_sessions_download_nothing(settings):
    jars = ensure_jars(settings=settings)
    assert jars == cached_jars(settings)
    assert any("delta-spark_4.1_2.13" in Path(j).name for j in jars)
    assert any("postgresql" in Path(j).name for j in jars)
    assert lock_file(settings).is_relative_to(Path(settings.jars_dir))


def test_maven_fallback_gives_a_working_delta_session(tmp_path):
    settings = load_settings().replace(jars_dir=str(tmp_path / "jars"))
    jars = _resolve_with_maven(settings)
    assert jars and all(zipfile.is_zipfile(j) for j in jars)
    lock_file(settings).write_text("\n".join(jars) + "\n")
    job = textwrap.dedent(f"""
        from riskpipe.core.config import load_settings
        from riskpipe.core.spark import get_spark
        spark = get_spark(settings=load_settings())
        assert "/jars/mvn/" in spark.sparkContext.getConf().get("spark.jars")
        spark.range(5).write.format("delta").save({str(tmp_path / "t")!r})
        print("ROWS", spark.read.format("delta").load({str(tmp_path / "t")!r}).count())
    """)
    env = dict(
        os.environ, RISKPIPE_JARS_DIR=settings.jars_dir, RISKPIPE_SPARK_MASTER="local[1]", RISKPIPE_DRIVER_MEMORY="1g"
    )
    proc = subprocess.run([sys.executable, "-c", job], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ROWS 5" in proc.stdout
