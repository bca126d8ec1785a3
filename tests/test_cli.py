"""Every riskpipe subcommand answers --help."""

import logging
import subprocess
import sys

import pytest

from riskpipe.cli import build_parser


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_top_level_help_lists_commands():
    proc = subprocess.run([sys.executable, "-m", "riskpipe.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for name in _subcommands():
        assert name in proc.stdout


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"riskpipe {command}" in out


def test_every_known_error_class_exists():
    from riskpipe import cli

    assert len(cli.known_errors()) == len(cli.KNOWN_ERRORS)


def _parser_failing_with(error: BaseException):
    def build():
        parser = build_parser()
        sub = next(a for a in parser._actions if a.dest == "command")
        failing = sub.choices["info"]

        def raise_it(args):
            raise error

        failing.set_defaults(func=raise_it)
        return parser

    return build


def test_a_known_error_prints_one_line_and_exits_1(monkeypatch, capsys):
    from riskpipe import cli

    monkeypatch.setattr(cli, "build_parser", _parser_failing_with(ValueError("landing/tax/x.csv row 7:\n  bad period")))
    assert cli.main(["info"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "riskpipe info: ValueError: landing/tax/x.csv row 7:; bad period"
    assert "Traceback" not in err


def test_a_known_error_keeps_its_traceback_at_debug_and_an_unknown_one_always(monkeypatch):
    from riskpipe import cli

    monkeypatch.setattr(cli, "build_parser", _parser_failing_with(ValueError("bad")))
    with pytest.raises(ValueError, match="bad"):
        cli.main(["--log-level", "debug", "info"])
    monkeypatch.setattr(cli, "build_parser", _parser_failing_with(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["info"])


def test_log_level_sets_the_level_and_keeps_chatty_libraries_at_warning():
    code = (
        "import logging; from riskpipe.cli import setup_logging; setup_logging('INFO'); "
        "print(logging.getLogger('jobs.batch').getEffectiveLevel(), "
        "logging.getLogger('py4j.clientserver').getEffectiveLevel()); "
        "chatty = logging.getLogger('great_expectations.x'); chatty.setLevel(logging.DEBUG); "
        "chatty.debug('debug of a library at its own level'); logging.getLogger('jobs.x').info('ours')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == [str(logging.INFO), str(logging.WARNING)]
    assert "INFO jobs.x: ours" in proc.stderr and "debug of a library" not in proc.stderr


def test_ingest_takes_several_sources_and_runs_them_in_the_declared_order():
    from riskpipe import pipeline

    args = build_parser().parse_args(["ingest", "loans", "enterprises", "--start", "2019-01-01", "--end", "2019-02-01"])
    assert args.source == ["loans", "enterprises"]
    assert pipeline.ingest_order(args.source) == ["enterprises", "loans"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ingest", "loans", "nonsense", "--start", "2019-01-01", "--end", "2019-02-01"])
