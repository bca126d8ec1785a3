"""The catalogue documents every feature, drives the gold schema and the committed docs/features.md."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import pytest

from riskpipe.commands import features as features_command
from schemas.feature_catalogue import FAMILIES, FEATURES, names, render_catalogue_markdown
from schemas.registry import get

DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_catalogue_has_at_least_40_documented_features_in_every_family():
    assert len(FEATURES) >= 40
    per_family = Counter(f.family for f in FEATURES)
    assert set(per_family) == set(FAMILIES)
    for f in FEATURES:
        assert f.description and f.source and f.unit, f.name


def test_gold_schema_holds_the_catalogue_in_order_with_descriptions():
    spec = get("enterprise_features")
    assert [c for c in spec.columns if c in set(names())] == names()
    assert spec.keys == ("uscc", "snapshot_date") and spec.partition_by == ("snapshot_month",)
    assert all(spec.field(c).metadata["comment"] for c in spec.columns)
    assert get("default_labels").keys == ("uscc", "snapshot_date")


def test_docs_features_md_is_generated_from_the_catalogue():
    assert DOCS.read_text(encoding="utf-8") == render_catalogue_markdown() + "\n", (
        "docs/features.md is stale: run `riskpipe features catalogue --write`"
    )


def test_cli_parses_build_and_catalogue(capsys):
    parser = argparse.ArgumentParser(prog="riskpipe")
    features_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["features", "build", "--from", "2021-01-01", "--to", "2021-06-30", "--full"])
    assert (args.start, args.end, args.full, args.as_of) == ("2021-01-01", "2021-06-30", True, None)
    assert parser.parse_args(["features", "build", "--as-of", "2021-06-30"]).as_of == "2021-06-30"
    with pytest.raises(SystemExit):
        parser.parse_args(["features", "build", "--as-of", "30/06/2021"])
    args = parser.parse_args(["features", "catalogue"])
    assert args.func(args) == 0
    assert "`tax_sales_3m`" in capsys.readouterr().out
