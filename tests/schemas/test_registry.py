import pytest
from pyspark.sql.types import StringType, StructType

from schemas.registry import TableSpec, all_tables, column, get, register


def test_every_source_has_bronze_and_silver():
    names = {s.name for s in all_tables()}
    for source in (
        "enterprises",
        "tax_filings",
        "tax_ratings",
        "utility_reads",
        "court_events",
        "transactions",
        "loans",
        "loan_balances",
    ):
        assert source in names and f"bronze_{source}" in names


def test_bronze_tables_carry_lineage_columns():
    for spec in all_tables("bronze"):
        assert {"_batch_id", "_source", "_ingested_at", "_record_hash"} <= set(spec.columns)


def test_silver_tables_have_keys_and_every_column_is_documented():
    for spec in all_tables("silver"):
        assert spec.keys, spec.name
        for field in spec.schema.fields:
            assert field.metadata.get("comment"), f"{spec.name}.{field.name} has no description"


def test_declaration_errors_are_clear():
    with pytest.raises(ValueError, match="not in schema"):
        TableSpec("broken", "silver", StructType([column("a", StringType(), "a")]), keys=("b",))
    with pytest.raises(ValueError, match="unknown layer"):
        TableSpec("broken", "platinum", StructType([column("a", StringType(), "a")]))
    with pytest.raises(KeyError, match="unknown table"):
        get("no_such_table")


def test_redeclaring_differently_is_refused():
    spec = get("tax_filings")
    with pytest.raises(ValueError, match="declared twice"):
        register(TableSpec(spec.name, spec.layer, spec.schema, keys=("uscc",)))


def test_empty_row_rejects_unknown_columns():
    with pytest.raises(KeyError, match="no columns"):
        get("tax_filings").empty_row(nonsense=1)
