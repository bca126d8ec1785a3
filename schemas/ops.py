"""Operational tables: the file manifest and the quarantine."""

from __future__ import annotations

from pyspark.sql.types import ArrayType, DateType, DoubleType, LongType, StringType, StructType, TimestampType

from schemas.registry import TableSpec, column, register

S, TS = StringType(), TimestampType()

MANIFEST_STATUSES = ("started", "succeeded", "failed", "rejected", "superseded")

INGEST_MANIFEST = register(
    TableSpec(
        "ingest_manifest",
        "ops",
        StructType(
            [
                column("source", S, "feed name", nullable=False),
                column("path", S, "file path relative to the landing root", nullable=False),
                column("size_bytes", LongType(), "file size"),
                column("checksum", S, "SHA-256 of the file content", nullable=False),
                column("batch_id", S, "batch that processed the file", nullable=False),
                column("status", S, "started, succeeded, failed, rejected or superseded", allowed=MANIFEST_STATUSES),
                column("rows_read", LongType(), "rows read from the file"),
                column("rows_published", LongType(), "rows published to silver: inserted + updated"),
                column(
                    "rows_inserted",
                    LongType(),
                    "rows published as a new silver version (a new key), also by an earlier attempt of the same batch",
                ),
                column(
                    "rows_updated",
                    LongType(),
                    "rows published over a silver version of the same key and delivery date (other content)",
                ),
                column("rows_quarantined", LongType(), "rows sent to quarantine"),
                column("rows_duplicate", LongType(), "rows recognised as duplicates"),
                column("error", S, "error message when not succeeded"),
                column("logical_date", S, "Airflow logical date / data interval start of the run"),
                column("started_at", TS, "processing start"),
                column("finished_at", TS, "processing end"),
            ]
        ),
        keys=("source", "path", "checksum"),
        description="one row per source file and content version: exactly-once file processing",
    )
)

QUARANTINE = register(
    TableSpec(
        "quarantine",
        "ops",
        StructType(
            [
                column("table_name", S, "silver table the row was meant for", nullable=False),
                column("batch_id", S, "ingestion batch", nullable=False),
                column("source_file", S, "file or API page"),
                column("source_row", LongType(), "row number within the file or page"),
                column("record_key", S, "business key of the row, when it could be read"),
                column("record", S, "the row as received, JSON", nullable=False),
                column("rules", ArrayType(S), "names of the rules the row broke", nullable=False),
                column("reason", S, "human-readable reason"),
                column("failure_rate", DoubleType(), "batch failure rate when quarantined"),
                column("_record_hash", S, "payload hash", nullable=False),
                column("quarantined_at", TS, "when the row was quarantined", nullable=False),
            ]
        ),
        keys=("table_name", "batch_id", "_record_hash"),
        partition_by=("table_name",),
        description="one row per rejected input row with the rules it broke",
    )
)

INGEST_WATERMARKS = register(
    TableSpec(
        "ingest_watermarks",
        "ops",
        StructType(
            [
                column("source", S, "feed name", nullable=False),
                column("source_table", S, "source table (e.g. core_banking.loans)", nullable=False),
                column("watermark_column", S, "monotonic column used for increments"),
                column("watermark", S, "highest watermark value ingested (ISO text)"),
                column("batch_id", S, "batch that advanced the watermark", nullable=False),
                column("rows", LongType(), "rows read in that batch"),
                column("updated_at", TS, "when the watermark was advanced"),
            ]
        ),
        keys=("source", "source_table"),
        description="one row per incremental JDBC source table: the last ingested watermark",
    )
)

DATA_GAPS = register(
    TableSpec(
        "data_gaps",
        "ops",
        StructType(
            [
                column("table_name", S, "silver table checked", nullable=False),
                column("entity_key", S, "the enterprise (uscc) or meter the gap belongs to", nullable=False),
                column("period", DateType(), "the expected month that never arrived", nullable=False),
                column("rule", S, "named completeness rule, e.g. tax_filings.missing_month", nullable=False),
                column("detected_at", TS, "when the check last ran"),
            ]
        ),
        keys=("table_name", "entity_key", "period"),
        partition_by=("table_name",),
        description="one row per expected monthly record that was never delivered (a gap in a feed)",
    )
)

CONTINUITY_GAPS = register(
    TableSpec(
        "continuity_gaps",
        "ops",
        StructType(
            [
                column("table_name", S, "silver table whose feed was checked", nullable=False),
                column(
                    "entity_key", S, "the chain: account (transactions) or id prefix (court events)", nullable=False
                ),
                column("rule", S, "named continuity rule, e.g. transactions.balance_discontinuity", nullable=False),
                column("key_before", S, "id of the last row received before the break", nullable=False),
                column("key_after", S, "id of the first row received after the break", nullable=False),
                column("date_before", DateType(), "date of the row before the break"),
                column("date_after", DateType(), "date of the row after the break"),
                column("missing_rows", LongType(), "rows missing in the break, when the ids tell (sequence gaps)"),
                column(
                    "unexplained_amount",
                    DoubleType(),
                    "balance change no received row explains: the signed sum of the missing rows",
                    unit="CNY",
                ),
                column("detected_at", TS, "when the check last ran"),
            ]
        ),
        keys=("table_name", "entity_key", "key_after"),
        partition_by=("table_name",),
        description="one row per break in a feed's chain (balance or id sequence): rows that never arrived",
    )
)
