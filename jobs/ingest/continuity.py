"""Continuity: rows of daily and event feeds that never arrived, found by a break in a chain.

A row that never arrives cannot be quarantined, and feeds without a fixed cadence cannot be
checked by enumerating expected periods (``jobs/ingest/gaps.py`` does that for the monthly feeds).
They carry a chain instead, and a missing row breaks it:

* ``transactions.balance_discontinuity``: per account, in posting order, the previous
  ``balance_after`` plus the signed amount of the next transaction must equal its
  ``balance_after``. The core banking system numbers transactions in posting order
  (``TX<posting date><daily sequence>``), so the id order is the order the balance follows,
  whatever a row's (possibly wrong) timestamp says.
* ``court_events.sequence_gap``: the court system numbers its events consecutively
  (``<prefix><digits>``); a jump in the numbers of one prefix is a run of events not received.

Both run on everything received (bronze, as delivered, duplicates collapsed; of a restated
transaction the latest delivery, as silver's current version), so a row that arrived but was
quarantined still closes the chain. A break at a row whose own amount,
direction or balance failed validation proves nothing (the row is wrong, not the chain) and
is not reported. Breaks are recorded in the ops table ``continuity_gaps``; the table is
recomputed per feed from the interval start on, so a gap later filled by a late row
disappears on the next run, as in ``data_gaps``.
"""

from __future__ import annotations

import datetime as dt
import operator
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from riskpipe.core.config import Settings

BALANCE_RULE = "transactions.balance_discontinuity"
SEQUENCE_RULE = "court_events.sequence_gap"
# Amounts and balances are delivered in fen (two decimals): anything above half a fen is a break.
BALANCE_TOLERANCE = 0.005
# Columns a transaction's balance check relies on: a row failing a rule on one of them is no evidence.
CHAIN_COLUMNS = ("amount", "direction", "balance_after")
# A break is looked for from this many days before the checked interval, so that the row
# closing the chain on the interval's first day has its predecessor.
LOOKBACK_DAYS = 31
# Transactions may arrive in a later file than their date. Breaks are rechecked from this many
# days before a batch's interval, so a late row the batch delivers closes a break that the
# batch before it recorded (a backfill in monthly batches then ends as one batch would).
RECHECK_DAYS = 31
ID_PATTERN = r"^(.*?)(\d+)$"
# Core banking transaction ids: this prefix, the posting date (yyyymmdd), a daily sequence.
TXN_ID_PREFIX = "TX"
OUTPUT = [
    "table_name",
    "entity_key",
    "rule",
    "key_before",
    "key_after",
    "date_before",
    "date_after",
    "missing_rows",
    "unexplained_amount",
    "detected_at",
]


def _untrusted_keys(quarantine: DataFrame, *, table_name: str, columns: tuple[str, ...]) -> DataFrame:
    """``record_key`` of quarantined rows of ``table_name`` that broke a rule on ``columns``."""
    rule_on_column = reduce(operator.or_, [F.col("rule").startswith(f"{table_name}.{c}.") for c in columns])
    return (
        quarantine.where((F.col("table_name") == table_name) & F.col("record_key").isNotNull())
        .select("record_key", F.explode("rules").alias("rule"))
        .where(rule_on_column)
        .select(F.col("record_key").alias("key_after"))
        .distinct()
    )


def _signed_amount() -> Column:
    is_inflow = F.col("direction") == F.lit("C")
    return F.when(is_inflow, F.col("amount")).otherwise(-F.col("amount"))


def balance_breaks(
    received: DataFrame, quarantine: DataFrame, *, since: dt.date, detected_at: dt.datetime
) -> DataFrame:
    """Breaks in each account's balance chain whose closing row is dated on or after ``since``.

    Args:
        received: transactions as delivered (e.g. ``bronze_transactions``): ``txn_id``,
            ``account_id``, ``txn_ts``, ``amount``, ``direction``, ``balance_after``.
        quarantine: the ``quarantine`` table (rows whose own amount/direction/balance failed
            a rule are not taken as evidence of a break).
        since: first date of the checked interval.

    Returns:
        ``continuity_gaps`` rows: ``entity_key`` the account, ``key_before``/``key_after`` the
        transactions around the break, ``unexplained_amount`` the balance change no received
        row explains (the signed sum of the missing rows).
    """
    chain = Window.partitionBy("account_id").orderBy("txn_id")
    rows = (
        latest_delivery(received.where(F.col("account_id").isNotNull() & F.col("txn_id").isNotNull()))
        .select(
            "account_id",
            "txn_id",
            F.to_date("txn_ts").alias("txn_date"),
            F.col("amount").cast("double").alias("amount"),
            "direction",
            F.col("balance_after").cast("double").alias("balance_after"),
        )
        .withColumn("key_before", F.lag("txn_id").over(chain))
        .withColumn("date_before", F.lag("txn_date").over(chain))
        .withColumn("balance_before", F.lag("balance_after").over(chain))
    )
    unexplained = F.col("balance_after") - F.col("balance_before") - _signed_amount()
    is_break = F.col("key_before").isNotNull() & (F.abs(unexplained) > BALANCE_TOLERANCE)
    in_interval = F.col("txn_date") >= F.lit(since)
    breaks = (
        rows.where(is_break & in_interval)
        .withColumn("unexplained_amount", F.round(unexplained, 2))
        .withColumnRenamed("txn_id", "key_after")
        .join(
            _untrusted_keys(quarantine, table_name="transactions", columns=CHAIN_COLUMNS),
            on="key_after",
            how="left_anti",
        )
    )
    return breaks.select(
        F.lit("transactions").alias("table_name"),
        F.col("account_id").alias("entity_key"),
        F.lit(BALANCE_RULE).alias("rule"),
        "key_before",
        "key_after",
        "date_before",
        F.col("txn_date").alias("date_after"),
        F.lit(None).cast("long").alias("missing_rows"),
        "unexplained_amount",
        F.lit(detected_at).cast("timestamp").alias("detected_at"),
    ).select(*OUTPUT)


def sequence_gaps(received: DataFrame, *, detected_at: dt.datetime) -> DataFrame:
    """Runs of missing numbers in the court event ids, per id prefix.

    Args:
        received: court events as delivered (e.g. ``bronze_court_events``): ``event_id``,
            ``published_date`` (text or date).

    Returns:
        ``continuity_gaps`` rows: ``entity_key`` the id prefix, ``key_before``/``key_after``
        the received ids around the run, ``missing_rows`` its length.
    """
    ids = (
        received.where(F.col("event_id").rlike(ID_PATTERN))
        .dropDuplicates(["event_id"])
        .select(
            "event_id",
            F.regexp_extract("event_id", ID_PATTERN, 1).alias("prefix"),
            F.regexp_extract("event_id", ID_PATTERN, 2).cast("long").alias("number"),
            F.to_date(F.col("published_date").cast("string")).alias("published_date"),
        )
    )
    sequence = Window.partitionBy("prefix").orderBy("number")
    steps = (
        ids.withColumn("key_before", F.lag("event_id").over(sequence))
        .withColumn("number_before", F.lag("number").over(sequence))
        .withColumn("date_before", F.lag("published_date").over(sequence))
    )
    skips_numbers = F.col("number") - F.col("number_before") > 1
    return (
        steps.where(skips_numbers)
        .select(
            F.lit("court_events").alias("table_name"),
            F.col("prefix").alias("entity_key"),
            F.lit(SEQUENCE_RULE).alias("rule"),
            "key_before",
            F.col("event_id").alias("key_after"),
            "date_before",
            F.col("published_date").alias("date_after"),
            (F.col("number") - F.col("number_before") - 1).alias("missing_rows"),
            F.lit(None).cast("double").alias("unexplained_amount"),
            F.lit(detected_at).cast("timestamp").alias("detected_at"),
        )
        .select(*OUTPUT)
    )


CHECKED_FEEDS = ("transactions", "court_events")


def latest_delivery(received: DataFrame) -> DataFrame:
    """One row per ``txn_id``: the latest delivery of a restated transaction (its current version).

    Deliveries are ordered as silver orders their versions: by file (names carry the delivery
    date), then arrival, then line. Without lineage columns any one copy is kept.
    """
    lineage = [c for c in ("_source_file", "_ingested_at", "_source_row") if c in received.columns]
    if not lineage:
        return received.dropDuplicates(["txn_id"])
    newest = Window.partitionBy("txn_id").orderBy(*[F.col(c).desc() for c in lineage])
    return (
        received.withColumn("_delivery_rank", F.row_number().over(newest))
        .where(F.col("_delivery_rank") == 1)
        .drop("_delivery_rank")
    )


def posted_since(start: dt.date) -> Column:
    """Transactions whose id says they were posted on or after ``start``.

    Bronze keeps rows as delivered, so a file's ``txn_ts`` range is stretched by its wrongly
    future-dated rows and its statistics cannot exclude it: a timestamp filter alone reads
    every earlier batch, more with each month. The id's posting date is what the balance
    chain is ordered by, and its range per file is narrow, so Delta skips the older files.
    """
    return F.col("txn_id") >= F.lit(f"{TXN_ID_PREFIX}{start:%Y%m%d}")


def main(table_name: str, *, since: dt.date, settings: Settings, spark: SparkSession) -> int:
    """Recompute the breaks of one feed and replace them in ``continuity_gaps``.

    Transactions are checked from ``RECHECK_DAYS`` before ``since`` on (reading another
    ``LOOKBACK_DAYS`` before that); the court event ids, a small feed, are checked whole
    every time.

    Returns:
        The number of gaps recorded for the feed.
    """
    from riskpipe.core import io

    detected_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    received = io.read(spark, f"bronze_{table_name}", settings=settings)
    scope = f"table_name = '{table_name}'"
    if table_name == "transactions":
        quarantine = io.read(spark, "quarantine", settings=settings)
        recheck = since - dt.timedelta(days=RECHECK_DAYS)
        start = recheck - dt.timedelta(days=LOOKBACK_DAYS)
        received = received.where(posted_since(start) & (F.to_date("txn_ts") >= F.lit(start)))
        gaps = balance_breaks(received, quarantine, since=recheck, detected_at=detected_at)
        scope += f" AND date_after >= '{recheck.isoformat()}'"
    elif table_name == "court_events":
        gaps = sequence_gaps(received, detected_at=detected_at)
    else:
        raise ValueError(f"no continuity check for {table_name}; checked feeds: {CHECKED_FEEDS}")
    io.replace_where(gaps, "continuity_gaps", scope, settings=settings)
    return io.read(spark, "continuity_gaps", settings=settings).where(F.col("table_name") == table_name).count()
