"""The CLI's progress bar: every item in order, a bar on a terminal only, lines printed around it."""

from __future__ import annotations

from riskpipe.commands import progress, say


def test_progress_yields_every_item_in_order_and_draws_no_bar_off_a_terminal(capsys):
    items = [("2019-01-01", "2019-02-01"), ("2019-02-01", "2019-03-01")]
    assert list(progress("ingest tax", "batch")(items)) == items
    say("    tax 2019-01-01..2019-02-01")
    out, err = capsys.readouterr()
    assert out == "    tax 2019-01-01..2019-02-01\n"
    assert err == ""  # pytest's captured stderr is not a terminal: no bar in a log
