"""The fund administrator's monthly statements: one per month, each reconciling, with the figures of the
single fund_balance.csv the simulator wrote before them."""

from __future__ import annotations

import pandas as pd
import pytest

from riskpipe.simulate import SimConfig, simulate

# The demo's portfolio (loans only: the fund depends on nothing else) and what the simulator's
# fund/fund_balance.csv held for it at a1040d9, before the statements replaced it: 48 month-ends,
# the contributions and payouts summed, the last balance and the months with a payout.
DEMO = dict(enterprises=600, months=48, start="2018-01", seed=20181, quiet=True, sources=("loans",))
OLD = {"months": 48, "contributions": 71544080.0, "payouts": 24570906.94, "balance": 46973173.06, "payout_months": 17}


@pytest.fixture(scope="module")
def statements(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("fund")
    summary = simulate(SimConfig(**DEMO), out)
    files = sorted((out / "fund" / "statements").glob("*.csv"))
    assert summary["rows_per_source"]["fund"] == len(files)
    assert not (out / "fund" / "fund_balance.csv").exists()
    frames = [pd.read_csv(f).assign(file=f.name) for f in files]
    return pd.concat(frames, ignore_index=True)


def test_one_statement_per_month_named_by_its_month(statements):
    assert len(statements) == OLD["months"] and set(statements["pool"]) == {"shared"}
    month_ends = pd.date_range("2018-01-31", periods=OLD["months"], freq="ME").strftime("%Y-%m-%d").tolist()
    assert statements["statement_date"].tolist() == month_ends
    assert statements["file"].tolist() == [f"fund_statement_{d[:4]}{d[5:7]}.csv" for d in month_ends]


def test_statements_chain_and_reconcile_to_the_cent(statements):
    assert statements["opening_balance"].iloc[0] == 0.0
    assert (
        statements["opening_balance"].iloc[1:].to_numpy() == statements["closing_balance"].iloc[:-1].to_numpy()
    ).all()
    cents = (statements[["opening_balance", "contributions", "payouts", "closing_balance"]] * 100).round()
    assert (cents["closing_balance"] == cents["opening_balance"] + cents["contributions"] - cents["payouts"]).all()
    assert (statements["closing_balance"] >= 0).all()


def test_statements_sum_to_the_totals_of_the_old_balance_file(statements):
    assert statements["contributions"].sum() == pytest.approx(OLD["contributions"], abs=0.005)
    assert statements["payouts"].sum() == pytest.approx(OLD["payouts"], abs=0.005)
    assert statements["closing_balance"].iloc[-1] == OLD["balance"]
    assert int((statements["payouts"] > 0).sum()) == OLD["payout_months"]
