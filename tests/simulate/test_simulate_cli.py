"""The ``simulate`` sub-command: registration, help and generation."""

import argparse
import json

import pytest

from riskpipe.simulate import cli


def _parser():
    parser = argparse.ArgumentParser(prog="riskpipe")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.register(sub)
    return parser


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit) as exc:
        _parser().parse_args(["simulate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--enterprises",
        "--months",
        "--seed",
        "--out",
        "--sources",
        "--config",
        "--quiet",
        "serve",
        "load-postgres",
        "--dsn",
        "--port",
    ):
        assert option in out


def test_generate_subset(tmp_path, capsys):
    args = _parser().parse_args(
        [
            "simulate",
            "--enterprises",
            "40",
            "--months",
            "3",
            "--seed",
            "9",
            "--out",
            str(tmp_path),
            "--sources",
            "tax,court",
            "--quiet",
        ]
    )
    assert args.func(args) == 0
    summary = json.loads((tmp_path / "manifest/summary.json").read_text())
    assert summary["config"]["sources"] == ["tax", "court"]
    assert (tmp_path / "tax/filings").is_dir() and not (tmp_path / "bank").exists()


def test_bad_source_rejected(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["simulate", "--sources", "tax,weather", "--out", "x"])


def test_serve_refuses_without_token(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("RISKPIPE_COURT_API_TOKEN", raising=False)
    args = _parser().parse_args(["simulate", "serve", "--data", str(tmp_path)])
    assert args.func(args) == 2
    assert "RISKPIPE_COURT_API_TOKEN" in capsys.readouterr().err


def test_generate_requires_out(capsys):
    args = _parser().parse_args(["simulate", "--enterprises", "5"])
    assert args.func(args) == 2
