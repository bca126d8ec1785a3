"""docs/reliability.md is deterministic: same rows, same bytes, whatever the order or the worker."""

from __future__ import annotations

import pytest

from tests.faults import reliability
from tests.faults.reliability import Row

THIS = "tests/faults/test_reliability_doc.py"
ROWS = [
    Row("2 replay", "b", "x", "pass", f"{THIS}::test_rows_round_trip"),
    Row("1 atomic", "a", "y", "FAIL", f"{THIS}::test_a_pipe_in_a_row_is_refused"),
]


def test_rows_round_trip():
    text = reliability.render(ROWS)
    assert reliability.parse(text) == sorted(ROWS)
    assert reliability.render(reversed(ROWS)) == text


def test_merging_per_worker_fragments_in_any_order_gives_the_same_bytes(tmp_path):
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    reliability.merge_into(first, ROWS[:1])
    reliability.merge_into(first, ROWS[1:])
    reliability.merge_into(second, ROWS[1:])
    reliability.merge_into(second, ROWS[:1])
    assert first.read_bytes() == second.read_bytes() == reliability.render(ROWS).encode()


def test_a_rerun_replaces_its_rows_and_drops_rows_of_removed_tests(tmp_path):
    doc = tmp_path / "r.md"
    gone = Row("9 gone", "f", "c", "pass", f"{THIS}::test_that_no_longer_exists")
    reliability.merge_into(doc, [*ROWS, gone])
    rerun = Row("2 replay", "b", "x", "FAIL", f"{THIS}::test_rows_round_trip")
    reliability.merge_into(doc, [rerun])
    assert reliability.parse(doc.read_text(encoding="utf-8")) == sorted([rerun, ROWS[1]])


def test_a_pipe_in_a_row_is_refused():
    mark = pytest.mark.reliability("1 atomic", "a | b", "c").mark
    with pytest.raises(ValueError, match="may not contain"):
        reliability.marker_rows([mark], "t", "pass")
