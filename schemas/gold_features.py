"""Gold tables of the feature store: point-in-time enterprise features and default labels.

``enterprise_features`` holds one row per enterprise and month-end snapshot; its
feature columns come from the catalogue (``schemas/feature_catalogue.py``), the one
place where features are declared and documented. ``default_labels`` holds the
12-month default outcome of the same (enterprise, snapshot) pairs.
``transaction_months`` and ``transaction_counterparty_months`` keep the monthly
transaction buckets the feature build sums (``jobs/features/txn_months.py``).
"""

from __future__ import annotations

from pyspark.sql.types import BooleanType, DateType, DoubleType, IntegerType, LongType, StringType, StructType

from schemas.feature_catalogue import FEATURES
from schemas.registry import TableSpec, column, register

S, D, B, I, L, DBL = StringType(), DateType(), BooleanType(), IntegerType(), LongType(), DoubleType()
_TYPES = {"double": DoubleType(), "int": IntegerType(), "boolean": BooleanType(), "string": StringType()}


def _keys() -> list:
    return [
        column(
            "snapshot_date",
            D,
            "snapshot date D (a month-end): features use only records available on D",
            nullable=False,
        ),
        column("snapshot_month", S, "YYYY-MM of snapshot_date (partition)", nullable=False),
        column("uscc", S, "enterprise USCC", nullable=False, rule="uscc"),
    ]


def _feature_columns() -> list:
    return [
        column(f.name, _TYPES[f.dtype], f.description, family=f.family, source=f.source, unit=f.unit) for f in FEATURES
    ]


ENTERPRISE_FEATURES = register(
    TableSpec(
        "enterprise_features",
        "gold",
        StructType(
            _keys()
            + [
                column("county", S, "county or district (registry version known on D)"),
                column("industry", S, "industry segment (registry version known on D)"),
                column(
                    "is_active_borrower",
                    B,
                    "has a loan active or restructured on D (latest available balance)",
                    nullable=False,
                ),
            ]
            + _feature_columns()
            + [
                column("_features_version", S, "catalogue version the row was built with", nullable=False),
                column("_built_from", S, "JSON object: Delta version of each silver table read", nullable=False),
            ]
        ),
        keys=("uscc", "snapshot_date"),
        partition_by=("snapshot_month",),
        description="one row per enterprise known on a month-end snapshot date, with its point-in-time features",
    )
)

DEFAULT_LABELS = register(
    TableSpec(
        "default_labels",
        "gold",
        StructType(
            _keys()
            + [
                column(
                    "default_12m",
                    B,
                    "a loan of the enterprise defaults (first balance in default by "
                    "default_definition: more than 90 DPD, restructured = substandard, or written off) in "
                    "(D, D + 12 months]",
                    nullable=False,
                ),
                column("default_date", D, "first default date in (D, D + 12 months]; null when none"),
                column(
                    "in_default_at_snapshot",
                    B,
                    "a loan already defaulted on or before D (exclude from modelling)",
                    nullable=False,
                ),
                column(
                    "observed_months",
                    I,
                    "whole months of loan balances observed after D (0-12)",
                    nullable=False,
                    min=0,
                    max=12,
                ),
                column(
                    "censored",
                    B,
                    "fewer than 12 months observed after D: default_12m may still turn true",
                    nullable=False,
                ),
                column("observed_until", D, "last as_of_date in loan_balances known to the build"),
                column("_built_from", S, "JSON object: Delta version of each silver table read", nullable=False),
            ]
        ),
        keys=("uscc", "snapshot_date"),
        partition_by=("snapshot_month",),
        description="12-month default outcome of each enterprise and snapshot (not point in time: uses the future)",
    )
)


def _bucket_keys() -> list:
    return [
        column("uscc", S, "enterprise USCC", nullable=False, rule="uscc"),
        column(
            "avail_month",
            D,
            "availability month (first day): transactions dated from the last day of the "
            "previous month to the day before this month's last day (T+1)",
            nullable=False,
        ),
    ]


_SILVER_VERSION = column(
    "_silver_version", L, "Delta version of silver transactions the bucket was aggregated from", nullable=False
)

TRANSACTION_MONTHS = register(
    TableSpec(
        "transaction_months",
        "gold",
        StructType(
            _bucket_keys()
            + [
                column("inflow", DBL, "sum of credits", unit="CNY"),
                column("outflow", DBL, "sum of debits", unit="CNY"),
                column("cash_out", DBL, "sum of cash-channel debits", unit="CNY"),
                column("n_txn", L, "transactions", nullable=False, min=0),
                column("active_days", L, "business dates with at least one transaction", nullable=False, min=0),
                column("last_date", D, "latest transaction date"),
                column("bal_days", L, "dates with a closing balance (summed over accounts)", nullable=False, min=0),
                column("bal_sum", DBL, "sum of daily closing balances", unit="CNY"),
                column("bal_sq", DBL, "sum of squared daily closing balances"),
                _SILVER_VERSION,
            ]
        ),
        keys=("uscc", "avail_month"),
        partition_by=("avail_month",),
        description="monthly transaction buckets per enterprise and availability month (feature build cache)",
    )
)

TRANSACTION_COUNTERPARTY_MONTHS = register(
    TableSpec(
        "transaction_counterparty_months",
        "gold",
        StructType(
            _bucket_keys()
            + [
                column("counterparty", S, "counterparty account, else name, else '?'", nullable=False),
                column("amount", DBL, "sum of credits from the counterparty", unit="CNY"),
                _SILVER_VERSION,
            ]
        ),
        keys=("uscc", "avail_month", "counterparty"),
        partition_by=("avail_month",),
        description="monthly inflows per enterprise, availability month and counterparty (feature build cache)",
    )
)
