"""Gold tables of the portfolio view: expected loss under the risk compensation fund, and stress tests.

``portfolio_risk`` holds one row per active loan and month-end (PD, LGD, EAD, EL and its split
between the bank and the fund); ``portfolio_summary`` the same totals broken down by county,
industry, grade, product, guarantee type and fund pool (long format, one row per dimension and
value, plus ``dimension = 'total'``); ``portfolio_metrics`` one row per month-end with the
totals, the fund's adequacy and concentration. ``stress_results`` and ``stress_migration``
hold each stress scenario side by side with the baseline. All are partitioned by
``snapshot_month`` and replaced per snapshot (and scenario) with ``replaceWhere``, skipped
when unchanged. Definitions: docs/portfolio.md.
"""

from __future__ import annotations

from pyspark.sql.types import BooleanType, DateType, DoubleType, IntegerType, LongType, StringType, StructType

from schemas.registry import TableSpec, column, register

S, D, F, I, L, B = StringType(), DateType(), DoubleType(), IntegerType(), LongType(), BooleanType()

PD_SOURCES = ("model", "in_default", "unscored")
DIMENSIONS = ("total", "county", "industry", "grade", "product", "guarantee_type", "fund_pool")
UNKNOWN = "unknown"  # value of a breakdown whose attribute is missing (grade: not scored)


def _snapshot() -> list:
    return [
        column("snapshot_date", D, "month-end snapshot date D", nullable=False),
        column("snapshot_month", S, "YYYY-MM of snapshot_date (partition)", nullable=False),
    ]


def _losses() -> list:
    return [
        column("n_loans", L, "active loans", nullable=False, min=0),
        column("n_borrowers", L, "distinct borrowers of those loans", nullable=False, min=0),
        column("ead", F, "exposure at default", nullable=False, unit="CNY", min=0),
        column("el", F, "expected loss PD x LGD x EAD", nullable=False, unit="CNY", min=0),
        column("bank_el", F, "part of the expected loss the bank bears (el - fund_el)", nullable=False, unit="CNY"),
        column(
            "fund_el",
            F,
            "part the risk compensation fund pays (capped by its balance)",
            nullable=False,
            unit="CNY",
            min=0,
        ),
        column(
            "fund_claim",
            F,
            "fund share of the expected loss before the balance cap (coverage x el)",
            nullable=False,
            unit="CNY",
            min=0,
        ),
        column("pd_weighted", F, "EAD-weighted average PD (null when ead is 0)", min=0, max=1),
    ]


PORTFOLIO_RISK = register(
    TableSpec(
        "portfolio_risk",
        "gold",
        StructType(
            [
                column("uscc", S, "borrower USCC", nullable=False, rule="uscc"),
                column("loan_id", S, "active loan", nullable=False),
            ]
            + _snapshot()
            + [
                column("product", S, "loan product"),
                column("county", S, "borrower's county on D (unknown when missing)", nullable=False),
                column("industry", S, "borrower's industry on D (unknown when missing)", nullable=False),
                column("guarantee_type", S, "guarantee type of the contract"),
                column("collateral_type", S, "collateral type of the contract"),
                column("days_past_due", I, "days past due on the latest balance known on D", nullable=False, min=0),
                column("grade", S, "master-scale grade of the borrower on D (null when not scored)"),
                column(
                    "pd_source",
                    S,
                    "model (risk_scores of D), in_default (PD 1) or unscored (configured PD)",
                    nullable=False,
                    allowed=PD_SOURCES,
                ),
                column("pd", F, "12-month PD used for the expected loss", nullable=False, min=0, max=1),
                column("model_version", S, "model version that scored the borrower (null when not scored)"),
                column(
                    "outstanding_principal",
                    F,
                    "outstanding principal on the latest balance",
                    nullable=False,
                    unit="CNY",
                    min=0,
                ),
                column(
                    "undrawn_amount", F, "undrawn commitment on the latest balance", nullable=False, unit="CNY", min=0
                ),
                column(
                    "ccf",
                    F,
                    "credit conversion factor of the undrawn amount (portfolio.ccf)",
                    nullable=False,
                    min=0,
                    max=1,
                ),
                column("ead", F, "exposure at default: outstanding + undrawn x ccf", nullable=False, unit="CNY", min=0),
                column(
                    "lgd", F, "gross loss given default (portfolio.lgd), before the fund", nullable=False, min=0, max=1
                ),
                column("lgd_rule", S, "the LGD rule that matched (default when none)", nullable=False),
                column("el", F, "expected loss pd x lgd x ead", nullable=False, unit="CNY", min=0),
                column(
                    "fund_coverage_share",
                    F,
                    "fund's contractual share of the loss (0 without the fund)",
                    nullable=False,
                    min=0,
                    max=1,
                ),
                column(
                    "fund_pool", S, "fund balance the loan draws on: its product's pool, else shared", nullable=False
                ),
                column(
                    "loss_rank",
                    I,
                    "position of the loan in its pool's loss order (1 draws first)",
                    nullable=False,
                    min=1,
                ),
                column(
                    "fund_claim",
                    F,
                    "fund_coverage_share x el, before the balance cap",
                    nullable=False,
                    unit="CNY",
                    min=0,
                ),
                column(
                    "fund_el",
                    F,
                    "fund's part after the cap: what is left of the pool's balance, at most the claim",
                    nullable=False,
                    unit="CNY",
                    min=0,
                ),
                column("bank_el", F, "el - fund_el", nullable=False, unit="CNY"),
                column("fund_capped", B, "the balance ran out: fund_el < fund_claim", nullable=False),
            ]
        ),
        keys=("loan_id", "snapshot_date"),
        partition_by=("snapshot_month",),
        description="expected loss of every active loan at a month-end and its split between the bank and the fund",
    )
)

PORTFOLIO_SUMMARY = register(
    TableSpec(
        "portfolio_summary",
        "gold",
        StructType(
            _snapshot()
            + [
                column(
                    "dimension",
                    S,
                    "breakdown: total, county, industry, grade, product, guarantee_type, fund_pool",
                    nullable=False,
                    allowed=DIMENSIONS,
                ),
                column("value", S, "value of the dimension (all for total; unknown when missing)", nullable=False),
            ]
            + _losses()
            + [
                column("el_rate", F, "el / ead (null when ead is 0)", min=0),
                column("ead_share", F, "ead / total ead of the snapshot", min=0, max=1),
                column(
                    "fund_balance",
                    F,
                    "balance of the pool (fund_pool rows) or of the whole fund (total row)",
                    unit="CNY",
                    min=0,
                ),
                column("fund_adequacy", F, "fund_balance / fund_claim (null when no claim)", min=0),
            ]
        ),
        keys=("snapshot_date", "dimension", "value"),
        partition_by=("snapshot_month",),
        description="portfolio expected loss by county, industry, grade, product, guarantee type and fund pool",
    )
)

PORTFOLIO_METRICS = register(
    TableSpec(
        "portfolio_metrics",
        "gold",
        StructType(
            _snapshot()
            + _losses()
            + [
                column("fund_balance", F, "fund balance (all pools)", nullable=False, unit="CNY", min=0),
                column(
                    "fund_adequacy",
                    F,
                    "fund_balance / fund_claim: below 1 the fund cannot pay its share (null when no claim)",
                    min=0,
                ),
                column(
                    "fund_shortfall",
                    F,
                    "fund_claim - fund_el: the fund's share the bank bears because of the cap",
                    nullable=False,
                    unit="CNY",
                    min=0,
                ),
                column("n_fund_capped", L, "loans whose fund claim was cut by the cap", nullable=False, min=0),
                column("n_in_default", L, "loans in default on D (PD 1)", nullable=False, min=0),
                column("n_unscored", L, "loans whose borrower was not scored (configured PD)", nullable=False, min=0),
                column("hhi_borrower", F, "Herfindahl index of EAD by borrower (1 = one borrower)", min=0, max=1),
                column(
                    "top_n",
                    I,
                    "number of largest borrowers in top_n_share (portfolio.top_n_borrowers)",
                    nullable=False,
                    min=1,
                ),
                column("top_n_share", F, "share of EAD of the top_n borrowers by EAD", min=0, max=1),
                column("hhi_county", F, "Herfindahl index of EAD by county", min=0, max=1),
                column("hhi_industry", F, "Herfindahl index of EAD by industry", min=0, max=1),
                column("config_hash", S, "hash of the portfolio configuration used", nullable=False),
            ]
        ),
        keys=("snapshot_date",),
        partition_by=("snapshot_month",),
        description="portfolio totals, fund adequacy and concentration at each month-end",
    )
)


def _side(prefix: str, what: str) -> list:
    return [
        column(f"{prefix}_pd_mean", F, f"mean PD of the scored borrowers ({what})", min=0, max=1),
        column(f"{prefix}_pd_weighted", F, f"EAD-weighted PD of the active loans ({what})", min=0, max=1),
        column(f"{prefix}_el", F, f"expected loss ({what})", nullable=False, unit="CNY", min=0),
        column(f"{prefix}_bank_el", F, f"bank's expected loss ({what})", nullable=False, unit="CNY"),
        column(
            f"{prefix}_fund_el", F, f"fund's expected loss after the cap ({what})", nullable=False, unit="CNY", min=0
        ),
        column(f"{prefix}_fund_claim", F, f"fund's share before the cap ({what})", nullable=False, unit="CNY", min=0),
        column(f"{prefix}_fund_adequacy", F, f"fund_balance / fund_claim ({what}; null when no claim)", min=0),
    ]


STRESS_RESULTS = register(
    TableSpec(
        "stress_results",
        "gold",
        StructType(
            [column("scenario", S, "scenario name (conf/stress_scenarios.yaml)", nullable=False)]
            + _snapshot()
            + [
                column("description", S, "what the scenario shocks", nullable=False),
                column("scenario_hash", S, "hash of the scenario's shocks", nullable=False),
                column("model_name", S, "registered model that rescored the features", nullable=False),
                column("model_version", S, "its version: the one that scored risk_scores of D", nullable=False),
                column(
                    "features_version",
                    L,
                    "Delta version of enterprise_features read (as recorded in risk_scores)",
                    nullable=False,
                ),
                column("n_loans", L, "active loans", nullable=False, min=0),
                column("n_scored", L, "borrowers rescored", nullable=False, min=0),
                column("ead", F, "exposure at default (not shocked)", nullable=False, unit="CNY", min=0),
                column("fund_balance", F, "fund balance (all pools)", nullable=False, unit="CNY", min=0),
            ]
            + _side("baseline", "baseline: risk_scores of D")
            + _side("stressed", "after the shocks")
            + [
                column("n_downgraded", L, "scored borrowers whose grade got worse", nullable=False, min=0),
                column("n_upgraded", L, "scored borrowers whose grade got better", nullable=False, min=0),
            ]
        ),
        keys=("scenario", "snapshot_date"),
        partition_by=("snapshot_month",),
        description="each stress scenario's PD, expected loss, bank/fund split and fund adequacy beside the baseline",
    )
)

STRESS_MIGRATION = register(
    TableSpec(
        "stress_migration",
        "gold",
        StructType(
            [column("scenario", S, "scenario name", nullable=False)]
            + _snapshot()
            + [
                column("from_grade", S, "baseline grade (risk_scores of D)", nullable=False),
                column("to_grade", S, "grade after the shocks", nullable=False),
                column("n_borrowers", L, "scored borrowers moving from from_grade to to_grade", nullable=False, min=0),
                column("n_loans", L, "their active loans", nullable=False, min=0),
                column("ead", F, "EAD of those loans", nullable=False, unit="CNY", min=0),
            ]
        ),
        keys=("scenario", "snapshot_date", "from_grade", "to_grade"),
        partition_by=("snapshot_month",),
        description="grade migration matrix of each stress scenario (baseline grade x stressed grade)",
    )
)
