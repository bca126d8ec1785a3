"""Injected defects: rates match the configuration and the manifest points at real rows."""

import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pytest

from riskpipe.simulate import SimConfig, simulate

ROW_SOURCES = ("tax", "utility", "court", "bank")


def _manifest(root: Path) -> list[dict]:
    with open(root / "manifest/defects.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _read(root: Path, rel: str, truncated: set[str]) -> pd.DataFrame:
    path = root / rel
    if rel in truncated:
        path = path.with_name(path.stem + "_redelivery" + path.suffix)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False, convert_dates=False)
    return pd.read_parquet(path)


def _counter(df: pd.DataFrame, cols: tuple[str, ...]) -> Counter:
    return Counter(zip(*(df[c].astype(str) for c in cols)))


def test_every_manifest_entry_points_at_its_row(dirty_data):
    root, _ = dirty_data
    entries = _manifest(root)
    truncated = {e["file"] for e in entries if e["defect_type"] == "truncated_file"}
    by_file = defaultdict(list)
    for e in entries:
        by_file[e["file"]].append(e)
    assert len({e["defect_id"] for e in entries}) == len(entries)
    for rel, items in by_file.items():
        df = _read(root, rel, truncated)
        counters: dict[tuple, Counter] = {}
        for e in items:
            t = e["defect_type"]
            if t == "truncated_file":
                full = (root / e["detail"]["redelivered_as"]).stat().st_size
                assert (root / rel).stat().st_size == e["key"]["bytes_kept"] < full
                continue
            cols = tuple(e["key"])
            if cols not in counters:
                counters[cols] = _counter(df, cols)
            n = counters[cols][tuple(str(v) for v in e["key"].values())]
            if t == "missing_month":
                assert n == 0, e
            elif t == "duplicate":
                assert n >= 2, e
            else:
                assert n >= 1, e


def test_realised_rates_match_configuration(dirty_data, dirty_config):
    _, summary = dirty_data
    rates = summary["config"]["dirty"]
    counts = summary["defects_per_source"]
    checked = 0
    for source, eligible in summary["eligible_per_source"].items():
        for dtype, n in eligible.items():
            rate = rates[dtype]
            if n < 200 or rate == 0:
                continue
            got = counts.get(source, {}).get(dtype, 0)
            expected = rate * n
            tolerance = 5 * math.sqrt(expected * (1 - rate)) + 3
            assert abs(got - expected) <= tolerance, (source, dtype, got, expected)
            checked += 1
    assert checked >= 25


def test_every_defect_type_occurs(dirty_data):
    types = Counter(e["defect_type"] for e in _manifest(dirty_data[0]))
    expected = {
        "duplicate",
        "late",
        "restatement",
        "missing_month",
        "malformed_uscc",
        "unit_mix",
        "negative_amount",
        "absurd_amount",
        "future_date",
        "fullwidth",
        "truncated_file",
    }
    assert expected <= set(types)


def test_defects_look_like_their_type(dirty_data):
    root, _ = dirty_data
    entries = _manifest(root)
    from riskpipe.core import uscc

    for e in entries:
        t, key = e["defect_type"], e["key"]
        if t == "malformed_uscc":
            bad = key.get("uscc") or key.get("party_uscc")
            if bad is not None:
                assert not uscc.is_valid(bad)
                assert uscc.is_valid(e["detail"]["original"])
        elif t == "future_date" and e["source"] in ("tax", "utility"):
            delivered = Path(e["file"]).stem.split("_")[-1]
            assert key["period"].replace("-", "") > delivered
        elif t == "late":
            assert e["detail"]["due_in_file"] < e["file"]


def test_summary_counts_rows_and_files(dirty_data):
    root, summary = dirty_data
    for source in ROW_SOURCES + ("loans", "loan_balances", "registry"):
        assert summary["rows_per_source"][source] > 0
    assert summary["rows_per_file"]["registry/enterprises.csv"] == 150
    assert summary["files_per_source"]["tax"] == 18


def test_clean_switch_gives_zero_defects(tmp_path):
    cfg = SimConfig.from_mapping(
        {"clean": True, "dirty": {"duplicate": 0.5}}, enterprises=80, months=3, start="2020-01", quiet=True
    )
    summary = simulate(cfg, tmp_path)
    assert summary["defects_per_type"] == {}
    assert (tmp_path / "manifest/defects.jsonl").read_text() == ""
    assert not list(tmp_path.rglob("*_redelivery*"))


def test_yaml_overrides_and_unknown_keys(tmp_path):
    path = tmp_path / "dirty.yaml"
    path.write_text("dirty:\n  duplicate: 0.2\nmodel:\n  distress_intercept: -6.0\n")
    cfg = SimConfig.from_yaml(path, enterprises=10)
    assert cfg.dirty.duplicate == 0.2 and cfg.model.distress_intercept == -6.0
    assert cfg.enterprises == 10
    path.write_text("dirty:\n  duplicates: 0.2\n")
    with pytest.raises(ValueError):
        SimConfig.from_yaml(path)
