"""The report file is replaced only when its content changes, so a rerun of a month leaves it untouched."""

from __future__ import annotations

from jobs.report.main import write_if_changed


def test_the_report_is_written_once_per_content(tmp_path):
    path = tmp_path / "reports" / "risk_report_2021-06-30.html"
    assert write_if_changed(path, "<html>June</html>")
    first = path.stat().st_mtime_ns
    assert not write_if_changed(path, "<html>June</html>")
    assert path.stat().st_mtime_ns == first
    assert write_if_changed(path, "<html>June, restated</html>")
    assert path.read_text(encoding="utf-8") == "<html>June, restated</html>"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no partial file left behind
