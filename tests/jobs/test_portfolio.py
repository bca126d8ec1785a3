"""Portfolio risk on inline frames: LGD/CCF/EAD from configuration, PD rules, the fund cap and loss
order, breakdowns that reconcile, concentration and adequacy."""

from __future__ import annotations

import random
import re

import pytest
from pyspark.testing import assertDataFrameEqual

from jobs.features.default_definition import DefaultDefinition
from jobs.portfolio import PortfolioConfig, portfolio_tables
from jobs.portfolio.config import LOSS_ORDERS, SHARED_POOL, from_mapping
from jobs.portfolio.risk import portfolio_risk
from riskpipe.core.config import load_settings
from schemas.gold_portfolio import DIMENSIONS
from tests.jobs.features.synthetic import uscc
from tests.jobs.portfolio_data import Loan, loan_frame, place_frame, score_frame

LGD_RULES = [
    {"collateral_type": "real_estate", "lgd": 0.3},
    {"guarantee_type": "credit", "lgd": 0.8},
    {"guarantee_type": "fund_guarantee", "collateral_type": "none", "lgd": 0.6},
]
SECTION = {
    "lgd": {"default": 0.9, "rules": LGD_RULES},
    "ccf": {"default": 0.4, "by_product": {"P2": 1.0}},
    "fund": {"balance": 1.0e9},
    "unscored_pd": 0.25,
}
DEFINITION = DefaultDefinition(dpd_over=90, statuses=("restructured", "written_off"))
SUMS = ("n_loans", "ead", "el", "bank_el", "fund_el", "fund_claim")


def _risk(spark, loans, scores, places=None, section=SECTION, definition=DEFINITION, **overrides):
    config = from_mapping(section, default_definition=definition, **overrides)
    places = place_frame(spark, places or {x.borrower: ("c", "i") for x in loans})
    return portfolio_risk(loan_frame(spark, loans), score_frame(spark, scores), places, config=config)


def test_the_default_profile_is_a_valid_portfolio_configuration():
    config = PortfolioConfig.from_settings(load_settings().sections("portfolio", "default_definition"))
    assert config.lgd_rules and config.fund_balance > 0 and config.loss_order in LOSS_ORDERS
    assert config.default_definition == DefaultDefinition.from_settings(load_settings().sections("default_definition"))


@pytest.mark.parametrize(
    "section, key",
    [
        ({"lgd": {"default": 1.5}}, "lgd.default"),
        ({"ccf": {"by_product": {"P": "x"}}}, "ccf.by_product.P"),
        ({"fund": {"balance": -1}}, "fund.balance"),
        ({"fund": {"loss_order": "random"}}, "fund.loss_order"),
        ({"lgd": {"rules": [{"collateral": "x", "lgd": 0.1}]}}, "lgd.rules[0]"),
        ({"default_dpd": 90}, "default_dpd: a loan in default (PD 1) is decided by default_definition"),
    ],
)
def test_a_bad_configuration_value_is_an_error_naming_its_key(section, key):
    with pytest.raises(ValueError, match=re.escape(key)):
        from_mapping(section, default_definition=DEFINITION)


def test_lgd_ccf_and_ead_come_from_configuration(spark):
    loans = [
        Loan("L1", 1, guarantee_type="credit", collateral_type="real_estate", undrawn=2e5),
        Loan("L2", 2, product="P2", guarantee_type="credit", undrawn=3e5),
        Loan("L3", 3, guarantee_type="fund_guarantee", collateral_type="none"),
        Loan("L4", 4, guarantee_type="fund_guarantee", collateral_type="livestock", undrawn=1e5),
        Loan("L5", 5, guarantee_type=None, collateral_type=None),
    ]
    out = _risk(spark, loans, {x.borrower: (0.02, 5) for x in loans})
    rule = {"L1": 0, "L2": 1, "L3": 2}  # L1 also matches rule 1: the first matching rule wins
    ccf = SECTION["ccf"]

    def expected(x):
        lgd = LGD_RULES[rule[x.loan_id]]["lgd"] if x.loan_id in rule else SECTION["lgd"]["default"]
        factor = ccf["by_product"].get(x.product, ccf["default"])
        ead = x.outstanding + x.undrawn * factor
        return (x.loan_id, lgd, factor, ead, 0.02 * lgd * ead)

    assertDataFrameEqual(
        out.select("loan_id", "lgd", "ccf", "ead", "el"),
        spark.createDataFrame(
            [expected(x) for x in loans], "loan_id string, lgd double, ccf double, ead double, el double"
        ),
        rtol=1e-12,
    )
    labels = {r["loan_id"]: r["lgd_rule"] for r in out.collect()}
    assert labels["L1"] == "collateral_type=real_estate" and labels["L5"] == "default"


def test_pd_is_one_in_default_the_configured_value_unscored_and_inactive_loans_are_left_out(spark):
    loans = [
        Loan("L1", 1),
        Loan("L2", 2, days_past_due=91),
        Loan("L3", 3, status="restructured"),
        Loan("L4", 4),
        Loan("L5", 5, days_past_due=90),
        Loan("L6", 6, status="closed"),
    ]
    out = _risk(spark, loans, {1: (0.03, 6), 2: (0.03, 6), 3: (0.03, 6), 5: (0.04, 6), 6: (0.03, 6)})
    assertDataFrameEqual(
        out.select("loan_id", "pd_source", "pd"),
        spark.createDataFrame(
            [
                ("L1", "model", 0.03),
                ("L2", "in_default", 1.0),
                ("L3", "in_default", 1.0),
                ("L4", "unscored", SECTION["unscored_pd"]),
                ("L5", "model", 0.04),
            ],
            "loan_id string, pd_source string, pd double",
        ),
    )


def test_pd_one_follows_the_default_definition(spark):
    loans = [Loan("L1", 1, days_past_due=31), Loan("L2", 2, days_past_due=30), Loan("L3", 3, status="restructured")]
    scores = {1: (0.03, 6), 2: (0.03, 6), 3: (0.03, 6)}
    out = _risk(spark, loans, scores, definition=DefaultDefinition(dpd_over=30, statuses=("written_off",)))
    assert {r["loan_id"]: (r["pd_source"], r["pd"]) for r in out.collect()} == {
        "L1": ("in_default", 1.0),
        "L2": ("model", 0.03),
        "L3": ("model", 0.03),
    }


def _reference_allocation(rows, balance, order):
    """Plain-Python oracle: claims paid in ``order`` until the balance is used up."""
    key = {
        "el_desc": lambda r: (-r["el"], r["loan_id"]),
        "pd_desc": lambda r: (-r["pd"], r["loan_id"]),
        "loan_id": lambda r: r["loan_id"],
    }[order]
    left, paid = balance, {}
    for r in sorted(rows, key=key):
        paid[r["loan_id"]] = max(0.0, min(r["fund_coverage_share"] * r["el"], left))
        left -= paid[r["loan_id"]]
    return paid


@pytest.mark.parametrize("order", LOSS_ORDERS)
def test_fund_payouts_never_exceed_the_balance_and_follow_the_loss_order(spark, order):
    loans = [
        Loan(f"L{i}", i, outstanding=1e6 * (1 + i % 3), fund_coverage_share=0.4 + 0.1 * (i % 4)) for i in range(1, 9)
    ] + [Loan("L9", 9, fund_coverage_share=None, guarantee_type="credit")]
    scores = {i: (0.02 * (1 + i % 5), 5) for i in range(1, 10)}
    balance = 1.5e5  # above any single claim, about half of their sum (~310k CNY)
    section = {**SECTION, "fund": {"balance": balance, "loss_order": order}}
    rows = _risk(spark, loans, scores, section=section).collect()
    paid = _reference_allocation(rows, balance, order)
    assert sum(r["fund_claim"] for r in rows) > balance
    assert sum(r["fund_el"] for r in rows) == pytest.approx(balance, rel=1e-12)
    assert sum(r["fund_el"] for r in rows) <= balance * (1 + 1e-12)
    for r in rows:
        assert r["fund_el"] == pytest.approx(paid[r["loan_id"]], rel=1e-12, abs=1e-9)
        assert r["fund_el"] + r["bank_el"] == pytest.approx(r["el"], rel=1e-12)
        assert r["fund_capped"] == (r["fund_el"] < r["fund_claim"])
    by_rank = [r["fund_capped"] for r in sorted(rows, key=lambda r: r["loss_rank"]) if r["fund_claim"] > 0]
    assert not by_rank[0] and by_rank[-1] and by_rank == sorted(by_rank)  # paid in full, then cut


def test_each_product_pool_is_capped_by_its_own_balance(spark):
    loans = [Loan(f"L{i}", i, product="P1" if i <= 3 else "P2") for i in range(1, 7)]
    scores = {i: (0.1, 8) for i in range(1, 7)}
    section = {**SECTION, "fund": {"balance": 1.0e9, "balance_by_product": {"P1": 5000.0}}}
    rows = _risk(spark, loans, scores, section=section).collect()
    pools = {pool: [r for r in rows if r["fund_pool"] == pool] for pool in ("P1", SHARED_POOL)}
    assert sum(r["fund_el"] for r in pools["P1"]) == pytest.approx(5000.0, rel=1e-12)
    assert all(r["fund_el"] == r["fund_claim"] for r in pools[SHARED_POOL]) and len(pools[SHARED_POOL]) == 3


@pytest.fixture(scope="module")
def portfolio(spark):
    """40 loans over 4 counties (one borrower without a place), 3 industries, grades with unscored
    borrowers and defaults, 3 products and a fund too small for its share."""
    rng = random.Random(7)
    loans = [
        Loan(
            f"L{i:02d}",
            i % 31,
            product=rng.choice(["A", "B", "C"]),
            outstanding=rng.uniform(1e5, 5e6),
            undrawn=rng.choice([0.0, 2e5]),
            guarantee_type=rng.choice(["credit", "fund_guarantee", None]),
            fund_coverage_share=rng.choice([0.0, 0.4, 0.8]),
            days_past_due=rng.choice([0] * 9 + [120]),
        )
        for i in range(40)
    ]
    scores = {b: (rng.uniform(0.001, 0.4), rng.randint(1, 10)) for b in range(31) if b % 7}
    places = {b: (rng.choice(["c1", "c2", "c3", None]), rng.choice(["i1", "i2", "i3"])) for b in range(30)}
    config = from_mapping({**SECTION, "fund": {"balance": 2.0e5}}, default_definition=DEFINITION, top_n_borrowers=5)
    tables = portfolio_tables(
        loan_frame(spark, loans), score_frame(spark, scores), place_frame(spark, places), config=config
    )
    return config, tables.risk.cache(), tables.summary.cache(), tables.metrics.first()


def test_expected_loss_reconciles_across_every_breakdown(portfolio):
    config, risk, summary, metrics = portfolio
    loans = risk.collect()
    rows = summary.collect()
    assert {r["dimension"] for r in rows} == set(DIMENSIONS)
    assert {r["value"] for r in rows if r["dimension"] == "grade"} >= {"unknown"}  # unscored borrowers
    assert {r["value"] for r in rows if r["dimension"] == "county"} >= {"unknown"}
    for column in SUMS:
        total = sum(1 if column == "n_loans" else r[column] for r in loans)
        assert metrics[column] == pytest.approx(total, rel=1e-9)
        for dimension in DIMENSIONS:
            assert sum(r[column] for r in rows if r["dimension"] == dimension) == pytest.approx(total, rel=1e-9)
    for dimension in DIMENSIONS:
        assert sum(r["ead_share"] for r in rows if r["dimension"] == dimension) == pytest.approx(1.0)
    assert metrics["fund_el"] <= config.total_balance * (1 + 1e-12) < metrics["fund_claim"]
    assert metrics["n_in_default"] == sum(r["pd_source"] == "in_default" for r in loans) > 0


def test_fund_adequacy_shortfall_and_concentration(portfolio):
    config, risk, summary, metrics = portfolio
    loans = risk.collect()
    assert metrics["fund_adequacy"] == pytest.approx(config.total_balance / metrics["fund_claim"])
    assert metrics["fund_shortfall"] == pytest.approx(metrics["fund_claim"] - metrics["fund_el"])
    exposure: dict[str, float] = {}
    for r in loans:
        exposure[r["uscc"]] = exposure.get(r["uscc"], 0.0) + r["ead"]
    total = sum(exposure.values())
    assert metrics["hhi_borrower"] == pytest.approx(sum((v / total) ** 2 for v in exposure.values()))
    top = sorted(exposure.values(), reverse=True)[: config.top_n_borrowers]
    assert metrics["top_n_share"] == pytest.approx(sum(top) / total) and metrics["top_n"] == 5
    counties = [r for r in summary.collect() if r["dimension"] == "county"]
    assert metrics["hhi_county"] == pytest.approx(sum(r["ead_share"] ** 2 for r in counties))
    assert uscc(1) in exposure


def test_totals_are_bit_identical_whatever_the_row_order(spark, portfolio):
    """A rerun must not commit a new version: sums may not depend on the order Spark adds rows in."""
    from jobs.portfolio.summary import breakdown, metrics

    config, risk, summary, first = portfolio
    shuffled = risk.repartition(7, "loan_id").orderBy(risk["loan_id"].desc())
    again = breakdown(shuffled, config=config)
    key = ["snapshot_date", "dimension", "value"]
    assert sorted(map(tuple, summary.orderBy(*key).collect())) == sorted(map(tuple, again.orderBy(*key).collect()))
    assert tuple(metrics(shuffled, again, config=config).first()) == tuple(first)
