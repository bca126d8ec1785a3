"""Every riskpipe subcommand answers --help."""

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
