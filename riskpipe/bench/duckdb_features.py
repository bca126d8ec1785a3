"""A DuckDB SQL reference of features of every family, shared by the tests and the benchmark.

The SQL is written independently from the Spark code, straight from the catalogue definitions
(calendar arithmetic on dates instead of month offsets). It covers ten features, at least one of
each family. ``FAMILIES`` holds each family's common table expressions and output columns;
``sql()`` assembles the query of one family or of all of them (``SQL``). The query reads the
tables ``snaps`` (column ``snapshot_date``), ``enterprises``, ``tax_filings``, ``utility_reads``,
``court_events``, ``transactions`` and ``loan_balances`` registered on the connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

KNOWN = "x.known_from <= s.snapshot_date AND (x.known_to IS NULL OR x.known_to > s.snapshot_date)"
M = "date_trunc('month', s.snapshot_date)"
GRID = "grid AS (SELECT s.snapshot_date, e.uscc FROM snaps s CROSS JOIN (SELECT DISTINCT uscc FROM enterprises) e)"
SOURCE_TABLES = ("enterprises", "tax_filings", "utility_reads", "court_events", "transactions", "loan_balances")
# The columns the query reads: the benchmark loads only these (all of 23M transactions, hashes
# and counterparty names included, held the Python process at 17 GB at 10,000 enterprises).
HISTORY = ("known_from", "known_to")
READ_COLUMNS: dict[str, tuple[str, ...]] = {
    "enterprises": ("uscc",),
    "tax_filings": ("uscc", "period", "taxable_sales", *HISTORY),
    "utility_reads": ("uscc", "period", "utility_type", "consumption", *HISTORY),
    "court_events": ("uscc", "case_id", "event_type", "role", "event_date", *HISTORY),
    "transactions": ("uscc", "txn_date", "amount", "direction", "counterparty_account"),
    "loan_balances": ("uscc", "loan_id", "as_of_date", "outstanding_principal", "status", "days_past_due"),
}

_TAX = f"""tax AS (  -- windows end at M-2, the latest VAT period known on D
  SELECT s.snapshot_date, x.uscc,
    SUM(taxable_sales) FILTER (WHERE period >= {M} - INTERVAL 4 MONTH AND period < {M} - INTERVAL 1 MONTH)
      AS tax_sales_3m,
    SUM(taxable_sales) FILTER (WHERE period >= {M} - INTERVAL 13 MONTH AND period < {M} - INTERVAL 1 MONTH)
      AS tax_sales_12m,
    date_diff('month', greatest(MIN(period), {M} - INTERVAL 13 MONTH), {M} - INTERVAL 1 MONTH)
      - COUNT(*) FILTER (WHERE period >= {M} - INTERVAL 13 MONTH AND period < {M} - INTERVAL 1 MONTH)
      AS tax_missed_filings_12m
  FROM snaps s JOIN tax_filings x ON {KNOWN} AND period >= {M} - INTERVAL 25 MONTH AND period < {M}
  GROUP BY s.snapshot_date, x.uscc)"""
_UTIL = f"""util AS (
  SELECT s.snapshot_date, x.uscc,
    SUM(consumption) FILTER (WHERE period >= {M} - INTERVAL 3 MONTH AND period < {M})
      / NULLIF(SUM(consumption) FILTER (WHERE period >= {M} - INTERVAL 15 MONTH
                                       AND period < {M} - INTERVAL 12 MONTH), 0) AS util_elec_yoy_3m
  FROM snaps s JOIN utility_reads x ON {KNOWN} AND utility_type = 'electricity'
  GROUP BY s.snapshot_date, x.uscc)"""
_COURT = f"""court AS (
  SELECT s.snapshot_date, x.uscc,
    COUNT(DISTINCT case_id) FILTER (WHERE event_type = 'case_filed' AND role = 'defendant'
                                    AND event_date > s.snapshot_date - INTERVAL 12 MONTH) AS court_defendant_cases_12m,
    COUNT(DISTINCT case_id) FILTER (WHERE event_type = 'enforcement' AND role = 'defendant' AND NOT EXISTS (
      SELECT 1 FROM court_events c WHERE c.case_id = x.case_id AND c.event_type = 'case_closed'
        AND {KNOWN.replace("x.", "c.")} AND c.event_date <= s.snapshot_date)) AS court_active_enforcements
  FROM snaps s JOIN court_events x ON {KNOWN} AND event_date <= s.snapshot_date AND x.uscc IS NOT NULL
  GROUP BY s.snapshot_date, x.uscc)"""
_TXN = [
    f"""txn_window AS (
  SELECT s.snapshot_date, x.* FROM snaps s JOIN transactions x
    ON txn_date + INTERVAL 1 DAY <= s.snapshot_date AND txn_date + INTERVAL 1 DAY >= {M} - INTERVAL 2 MONTH)""",
    """txn AS (
  SELECT snapshot_date, uscc, SUM(amount) FILTER (WHERE direction = 'C') AS txn_inflow_3m
  FROM txn_window GROUP BY snapshot_date, uscc)""",
    """hhi AS (
  SELECT snapshot_date, uscc, SUM(amount * amount) / (SUM(amount) * SUM(amount)) AS txn_inflow_hhi_3m FROM (
    SELECT snapshot_date, uscc, counterparty_account, SUM(amount) AS amount FROM txn_window
    WHERE direction = 'C' GROUP BY snapshot_date, uscc, counterparty_account) GROUP BY snapshot_date, uscc)""",
]
_INFLOW = f"""inflow_12m AS (
  SELECT s.snapshot_date, x.uscc, SUM(amount) AS inflow FROM snaps s JOIN transactions x
    ON txn_date + INTERVAL 1 DAY <= s.snapshot_date AND txn_date + INTERVAL 1 DAY >= {M} - INTERVAL 11 MONTH
  WHERE direction = 'C' GROUP BY s.snapshot_date, x.uscc)"""
_LOANS = [
    f"""bal AS (
  SELECT s.snapshot_date, x.* FROM snaps s JOIN loan_balances x
    ON as_of_date + INTERVAL 1 DAY <= s.snapshot_date AND as_of_date + INTERVAL 1 DAY >= {M} - INTERVAL 11 MONTH)""",
    """latest AS (
  SELECT * FROM bal QUALIFY row_number() OVER (PARTITION BY snapshot_date, loan_id ORDER BY as_of_date DESC) = 1)""",
    """exposure AS (
  SELECT snapshot_date, uscc, SUM(outstanding_principal) AS loan_exposure FROM latest
  WHERE status IN ('active', 'restructured') GROUP BY snapshot_date, uscc)""",
    """loans AS (
  SELECT snapshot_date, uscc, MAX(days_past_due) AS loan_max_dpd_12m FROM bal GROUP BY snapshot_date, uscc)""",
]

# family -> (CTEs, CTE names to left-join onto the grid, output column expressions)
FAMILIES: dict[str, tuple[list[str], list[str], list[str]]] = {
    "tax": (
        [_TAX],
        ["tax"],
        ["COALESCE(tax_sales_3m, 0) AS tax_sales_3m", "COALESCE(tax_missed_filings_12m, 0) AS tax_missed_filings_12m"],
    ),
    "utility": ([_UTIL], ["util"], ["util_elec_yoy_3m"]),
    "court": (
        [_COURT],
        ["court"],
        [
            "COALESCE(court_defendant_cases_12m, 0) AS court_defendant_cases_12m",
            "COALESCE(court_active_enforcements, 0) AS court_active_enforcements",
        ],
    ),
    "transactions": (_TXN, ["txn", "hhi"], ["COALESCE(txn_inflow_3m, 0) AS txn_inflow_3m", "txn_inflow_hhi_3m"]),
    "loans": (
        _LOANS,
        ["loans", "exposure"],
        ["COALESCE(loan_max_dpd_12m, 0) AS loan_max_dpd_12m", "COALESCE(loan_exposure, 0) AS loan_exposure"],
    ),
    "consistency": (
        [_TAX, _INFLOW],
        ["tax", "inflow_12m"],
        ["COALESCE(tax_sales_12m, 0) / NULLIF(inflow, 0) AS cons_sales_to_inflow_12m"],
    ),
}
COLUMNS = [
    "tax_sales_3m",
    "tax_missed_filings_12m",
    "util_elec_yoy_3m",
    "court_defendant_cases_12m",
    "court_active_enforcements",
    "txn_inflow_3m",
    "txn_inflow_hhi_3m",
    "loan_max_dpd_12m",
    "loan_exposure",
    "cons_sales_to_inflow_12m",
]


def family_columns(family: str) -> list[str]:
    """Output feature names of one family of the reference."""
    return [expr.split(" AS ")[-1].strip() for expr in FAMILIES[family][2]]


def sql(families: Sequence[str] | None = None) -> str:
    """The reference query of ``families`` (default: all), one row per snapshot and enterprise.

    Args:
        families: keys of ``FAMILIES``; their CTEs are deduplicated, in order.

    Returns:
        SQL selecting ``snapshot_date``, ``uscc`` and the families' columns, ordered by the keys.
    """
    chosen = list(families or FAMILIES)
    ctes, joins, outputs = [GRID], [], []
    for family in chosen:
        family_ctes, family_joins, family_outputs = FAMILIES[family]
        ctes += [c for c in family_ctes if c not in ctes]
        joins += [j for j in family_joins if j not in joins]
        outputs += family_outputs
    joined = " ".join(f"LEFT JOIN {j} USING (snapshot_date, uscc)" for j in joins)
    return (
        f"WITH {', '.join(ctes)}\nSELECT g.snapshot_date, g.uscc, {', '.join(outputs)}\n"
        f"FROM grid g {joined}\nORDER BY 1, 2"
    )


SQL = sql()


def connect(
    tables: Mapping[str, object],
    snapshots: object,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    database: str = ":memory:",
):
    """A DuckDB connection with the silver ``tables`` (pandas or Arrow) and ``snaps`` registered.

    Args:
        tables: table name -> pandas DataFrame or pyarrow Table.
        snapshots: a frame with the column ``snapshot_date``.
        threads: DuckDB ``threads`` setting (None: DuckDB's default).
        memory_limit: DuckDB ``memory_limit``, e.g. ``6GiB`` (None: DuckDB's default, 80% of RAM,
            which beside a Spark driver in the same machine invites the kernel's OOM killer).
        temp_directory: where DuckDB spills above ``memory_limit``.
        database: DuckDB's database (a file keeps tables created in it within ``memory_limit``).
    """
    import duckdb

    con = duckdb.connect(database)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_directory:
        con.execute(f"SET temp_directory = '{temp_directory}'")
    for table, frame in tables.items():
        con.register(table, frame)
    con.register("snaps", snapshots)
    return con
