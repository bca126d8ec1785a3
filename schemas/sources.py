"""Bronze (as received) and silver (typed, conformed) tables of the sources.

Bronze keeps text feeds (CSV, JSON Lines, REST) as strings so that nothing is
lost to typing; Parquet extracts keep their delivered types.

Silver is bitemporal for every source. Each row is one *version* of a business
record: its business keys plus ``known_from``, and ``known_from`` is the day the
delivery carrying it reached the bank (the file's delivery date from its name, the
JDBC increment's day, the day a court API interval became available; a changed file
reprocessed under an old name is dated the day it landed, after the contents it
follows), never a date inside the record. ``known_to`` is the next version's
``known_from`` (null while current) and ``is_current`` marks the latest. A
restatement therefore adds a version and closes the previous one; nothing is
updated in place except ``known_to``/``is_current``. The chain is recomputed over
all versions of the entities a batch touches (``jobs.silver.history.chain_versions``), so
deliveries ingested in any order (an older delivery arriving after a restatement
slots in between) give the same table, and the MERGE on ``keys + known_from`` makes
a rerun a no-op. A delivery of a record identical to the version before it still
counts as a version (with the same ``_record_hash``): dropping it would make the
result depend on the arrival order.

Readers: the version known on D is ``known_from <= D < coalesce(known_to, ∞)``. The
daily T+1 tables (``transactions``, ``loan_balances``) count a row's *first* version
from the day after its business date and a restated version from its ``known_from``
(``riskpipe.core.calendar.daily_versions_on``); current-state readers (labels, loan state,
the kept transaction buckets) read ``known_to IS NULL``.
"""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

from schemas.registry import TableSpec, column, register

S, D, F, B, TS = StringType(), DateType(), DoubleType(), BooleanType(), TimestampType()
# Longest plausible company name (registered names run to ~60 characters); longer is a broken feed.
NAME_MAX_LENGTH = 200
# the bronze column holding a raw line that could not be split into the declared fields
CORRUPT = "_corrupt_record"

COUNTIES = (
    "离石区",
    "孝义市",
    "汾阳市",
    "文水县",
    "交城县",
    "兴县",
    "临县",
    "柳林县",
    "石楼县",
    "岚县",
    "方山县",
    "中阳县",
    "交口县",
)
INDUSTRIES = ("walnut", "jujube", "coarse_grains", "livestock", "agri_processing", "coal_supply")
SIZE_CLASSES = ("micro", "small", "medium")
TAX_RATINGS = ("A", "B", "M", "C", "D")
COURT_EVENT_TYPES = ("case_filed", "enforcement", "dishonest_listed", "dishonest_removed", "case_closed")
COURT_ROLES = ("defendant", "plaintiff")
COURT_CAUSES = ("loan_dispute", "labour", "contract", "other")
UTILITY_TYPES = ("electricity", "water")
TXN_DIRECTIONS = ("C", "D")
TXN_CHANNELS = ("transfer", "cash", "pos", "online")
LOAN_STATUSES = ("active", "closed", "written_off", "restructured")
# The risk compensation fund's pool that every product without a pool of its own draws on (a product
# with its own pool is named by the product; conf/default.yaml, portfolio.fund).
SHARED_FUND_POOL = "shared"
# Largest plausible fund figure: the city's whole fund is tens of millions of CNY.
FUND_MAX = 1e10
# A fund statement reconciles (closing = opening + contributions - payouts) to this many cents.
FUND_RECONCILE_CENTS = 1


def _lineage() -> list:
    return [
        column("_batch_id", S, "ingestion batch that delivered the row", nullable=False),
        column("_source", S, "source system / feed name", nullable=False),
        column("_source_file", S, "file or API page the row came from"),
        column("_source_row", LongType(), "1-based row number within the file or page"),
        column("_ingested_at", TS, "when the row was appended to bronze", nullable=False),
        column("_record_hash", S, "SHA-256 of the payload columns", nullable=False),
        column(CORRUPT, S, "the raw line when it could not be split into the declared fields"),
    ]


def _bronze(name: str, payload: list, description: str, *, text: bool = True) -> TableSpec:
    fields = [column(f.name, S, f.metadata["comment"]) for f in payload] if text else payload
    return register(
        TableSpec(
            name=f"bronze_{name}", layer="bronze", schema=StructType(fields + _lineage()), description=description
        )
    )


def _history() -> list:
    return [
        column("known_from", D, "date this version of the record became available", nullable=False),
        column("known_to", D, "date it was superseded by a restatement (null while current)"),
        column("is_current", B, "true for the latest known version", nullable=False),
        column("_batch_id", S, "batch that delivered this version", nullable=False),
        column("_record_hash", S, "hash of the payload (detects unchanged re-deliveries)", nullable=False),
    ]


ENTERPRISE_FIELDS = [
    column("uscc", S, "Unified Social Credit Code (18 chars, GB 32100-2015)", nullable=False, rule="uscc"),
    column("company_name", S, "registered company name", max_length=NAME_MAX_LENGTH),
    column("county", S, "county or district", allowed=COUNTIES),
    column("industry", S, "industry segment", allowed=INDUSTRIES),
    column("size_class", S, "enterprise size", allowed=SIZE_CLASSES),
    column("founded_date", D, "registration date"),
    column("gov_recommended", B, "on the government's recommendation list"),
    column("recommended_date", D, "date of the recommendation"),
]
TAX_FILING_FIELDS = [
    column("uscc", S, "taxpayer USCC", nullable=False, rule="uscc"),
    column("company_name", S, "taxpayer name as filed", max_length=NAME_MAX_LENGTH),
    column("period", D, "tax period (first day of the month)", nullable=False, rule="not_after_logical_date"),
    column("filing_date", D, "date the return was filed", rule="not_after_logical_date"),
    column("taxable_sales", F, "taxable sales of the period", unit="CNY", min=0, max=5e9),
    column("vat_paid", F, "VAT paid", unit="CNY", min=0, max=1e9),
    column("cit_prepaid", F, "corporate income tax prepaid", unit="CNY", min=0, max=1e9),
    column("arrears_amount", F, "tax arrears outstanding", unit="CNY", min=0, max=1e9),
    column("penalty_amount", F, "penalties and late fees", unit="CNY", min=0, max=1e9),
    column("is_amendment", B, "return restates an earlier filing"),
]
TAX_RATING_FIELDS = [
    column("uscc", S, "taxpayer USCC", nullable=False, rule="uscc"),
    column("rating_year", IntegerType(), "year rated", nullable=False),
    column("rating", S, "tax credit rating", allowed=TAX_RATINGS),
    column("published_date", D, "publication date (spring of the next year)", rule="not_after_logical_date"),
]
UTILITY_FIELDS = [
    column("meter_id", S, "meter identifier", nullable=False),
    column("uscc", S, "account holder USCC", nullable=False, rule="uscc"),
    column("utility_type", S, "electricity or water", allowed=UTILITY_TYPES),
    column("period", D, "billing month (first day)", nullable=False, rule="not_after_logical_date"),
    column("read_date", D, "meter read date", rule="not_after_logical_date"),
    column("consumption", F, "consumption, normalised to kWh (electricity) or m3 (water)", min=0, max=5e8),
    column("unit", S, "unit after normalisation (kWh or m3)", allowed=("kWh", "m3")),
    column("bill_amount", F, "billed amount", unit="CNY", min=0, max=1e9),
    column("paid_flag", B, "bill paid"),
    column("arrears_amount", F, "unpaid utility arrears", unit="CNY", min=0, max=1e9),
]
COURT_FIELDS = [
    column("event_id", S, "court event identifier", nullable=False),
    column("case_id", S, "case number"),
    column("event_type", S, "kind of event", allowed=COURT_EVENT_TYPES),
    column("event_date", D, "date of the event", rule="not_after_logical_date"),
    column("published_date", D, "date published by the court system", rule="not_after_logical_date"),
    column("party_name", S, "party name as published"),
    column("party_uscc", S, "party USCC when published (often missing)"),
    column("role", S, "role of the party", allowed=COURT_ROLES),
    column("cause", S, "cause of action", allowed=COURT_CAUSES),
    column("amount", F, "amount at stake or to enforce", unit="CNY", min=0, max=5e9),
    column("status", S, "case status"),
]
TXN_FIELDS = [
    column("txn_id", S, "transaction identifier", nullable=False),
    column("account_id", S, "account number"),
    column("uscc", S, "account holder USCC", nullable=False, rule="uscc"),
    column("txn_ts", TS, "transaction timestamp", rule="not_after_logical_date"),
    column("amount", F, "amount, positive", unit="CNY", min=0, max=1e9),
    column("direction", S, "C inflow / D outflow", allowed=TXN_DIRECTIONS),
    column("counterparty_name", S, "counterparty name"),
    column("counterparty_account", S, "counterparty account"),
    column("channel", S, "channel", allowed=TXN_CHANNELS),
    column("balance_after", F, "account balance after the transaction", unit="CNY"),
]
LOAN_FIELDS = [
    column("loan_id", S, "loan identifier", nullable=False),
    column("uscc", S, "borrower USCC", nullable=False, rule="uscc"),
    column("product", S, "loan product"),
    column("principal", F, "drawn principal at origination", unit="CNY", min=0, max=1e9),
    column("credit_limit", F, "approved limit", unit="CNY", min=0, max=1e9),
    column("interest_rate", F, "annual interest rate (fraction)", min=0, max=0.5),
    column("start_date", D, "value date"),
    column("maturity_date", D, "maturity date"),
    column("guarantee_type", S, "guarantee type"),
    column("collateral_type", S, "collateral type"),
    column("fund_coverage_share", F, "risk compensation fund's share of principal losses", min=0, max=1),
    column("gov_recommended", B, "government-recommended borrower"),
    column("status", S, "contract status", allowed=LOAN_STATUSES),
]
LOAN_BALANCE_FIELDS = [
    column("loan_id", S, "loan identifier", nullable=False),
    column("uscc", S, "borrower USCC", nullable=False, rule="uscc"),
    column("as_of_date", D, "business date of the balance", nullable=False, rule="not_after_logical_date"),
    column("outstanding_principal", F, "outstanding principal", unit="CNY", min=0, max=1e9),
    column("undrawn_amount", F, "undrawn commitment", unit="CNY", min=0, max=1e9),
    column("overdue_principal", F, "principal past due", unit="CNY", min=0, max=1e9),
    column("days_past_due", IntegerType(), "days past due", min=0, max=3650),
    column("repaid_amount", F, "amount repaid that day", unit="CNY", min=0, max=1e9),
    column("status", S, "loan status", allowed=LOAN_STATUSES),
]
FUND_STATEMENT_FIELDS = [
    column("pool", S, f"fund pool: {SHARED_FUND_POOL}, or the product that has a pool of its own", nullable=False),
    column(
        "statement_date", D, "last day of the month the statement closes", nullable=False, rule="not_after_logical_date"
    ),
    column("opening_balance", F, "balance at the start of the month", nullable=False, unit="CNY", min=0, max=FUND_MAX),
    column(
        "contributions", F, "government contributions in the month", nullable=False, unit="CNY", min=0, max=FUND_MAX
    ),
    column("payouts", F, "compensation paid to the bank in the month", nullable=False, unit="CNY", min=0, max=FUND_MAX),
    column(
        "closing_balance",
        F,
        "balance on statement_date: opening + contributions - payouts",
        nullable=False,
        unit="CNY",
        min=0,
        max=FUND_MAX,
    ),
]

# ---- bronze: as received -------------------------------------------------
_bronze("enterprises", ENTERPRISE_FIELDS, "registration and recommendation list rows as delivered (CSV)")
_bronze("tax_filings", TAX_FILING_FIELDS, "monthly VAT filing rows as delivered (CSV drops)")
_bronze("tax_ratings", TAX_RATING_FIELDS, "annual tax credit ratings as delivered (CSV)")
_bronze(
    "utility_reads",
    UTILITY_FIELDS[:6] + [column("unit", S, "unit as delivered (kWh, MWh, m3)")] + UTILITY_FIELDS[7:],
    "meter reads as delivered (JSON Lines)",
)
_bronze("court_events", COURT_FIELDS, "court events as returned by the REST API")
_bronze("transactions", TXN_FIELDS, "account transactions from T+1 extracts (Parquet)", text=False)
_bronze("loans", LOAN_FIELDS, "loan contracts from T+1 extracts", text=False)
_bronze("loan_balances", LOAN_BALANCE_FIELDS, "daily loan balances from T+1 extracts", text=False)
_bronze("fund_statements", FUND_STATEMENT_FIELDS, "the fund administrator's monthly statements as delivered (CSV)")

# ---- silver: typed, conformed, deduplicated, with restatement history -----
register(
    TableSpec(
        "enterprises",
        "silver",
        StructType(
            ENTERPRISE_FIELDS[:2]
            + [column("company_name_norm", S, "normalised name for matching")]
            + ENTERPRISE_FIELDS[2:]
            + _history()
        ),
        keys=("uscc", "known_from"),
        description="one row per enterprise version",
    )
)
register(
    TableSpec(
        "tax_filings",
        "silver",
        StructType(TAX_FILING_FIELDS + _history()),
        keys=("uscc", "period", "known_from"),
        description="one row per taxpayer, period and known version",
    )
)
register(
    TableSpec(
        "tax_ratings",
        "silver",
        StructType(TAX_RATING_FIELDS + _history()),
        keys=("uscc", "rating_year", "known_from"),
        description="one row per taxpayer, year and known version",
    )
)
register(
    TableSpec(
        "utility_reads",
        "silver",
        StructType(UTILITY_FIELDS + _history()),
        keys=("meter_id", "period", "known_from"),
        description="one row per meter, month and known version",
    )
)
register(
    TableSpec(
        "court_events",
        "silver",
        StructType(
            COURT_FIELDS
            + [
                column("party_name_norm", S, "normalised party name"),
                column("uscc", S, "resolved USCC of the party (given, or matched by name)"),
                column("uscc_match", S, "how uscc was obtained: given, name_exact, name_normalised, unmatched"),
            ]
            + _history()
        ),
        keys=("event_id", "known_from"),
        description="one row per court event version",
    )
)
register(
    TableSpec(
        "transactions",
        "silver",
        StructType(
            TXN_FIELDS
            + [
                column("txn_date", D, "business date of the transaction", nullable=False),
                column("txn_month", S, "YYYY-MM partition of txn_date", nullable=False),
            ]
            + _history()
        ),
        keys=("txn_id", "known_from"),
        partition_by=("txn_month",),
        # the silver writer lays each month out in txn_id ranges so that a batch's MERGE (which
        # bounds silver by the batch's txn_id range) skips the other files; compaction keeps that
        # order. Transaction ids start with their business date, so this also clusters txn_date.
        zorder_by=("txn_id",),
        description="one row per account transaction and known version",
    )
)
register(
    TableSpec(
        "loans",
        "silver",
        StructType(LOAN_FIELDS + _history()),
        keys=("loan_id", "known_from"),
        description="one row per loan contract version",
    )
)
register(
    TableSpec(
        "loan_balances",
        "silver",
        StructType(
            LOAN_BALANCE_FIELDS
            + [
                column("as_of_month", S, "YYYY-MM partition of as_of_date", nullable=False),
            ]
            + _history()
        ),
        keys=("loan_id", "as_of_date", "known_from"),
        partition_by=("as_of_month",),
        # the silver writer's loan_id ranges (the MERGE's key range), kept by compaction
        zorder_by=("loan_id",),
        description="one row per loan, business day and known version",
    )
)
register(
    TableSpec(
        "fund_statements",
        "silver",
        StructType(FUND_STATEMENT_FIELDS + _history()),
        keys=("pool", "statement_date", "known_from"),
        description="one row per fund pool, month-end statement and known version (the fund's balance on "
        "statement_date, known from the statement's delivery; jobs.portfolio.fund reads it)",
    )
)
