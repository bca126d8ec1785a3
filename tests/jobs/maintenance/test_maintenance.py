"""The maintenance steps on real Delta tables of a test's own lakehouse: retention properties,
CHECK constraints from the declared value rules, compaction, and VACUUM that keeps pinned versions."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from jobs.maintenance import main as maintenance
from jobs.maintenance.pins import Pin, model_pins, snapshot_pins
from riskpipe.core import io
from riskpipe.core.uscc import generate
from tests.faults.data import content_hash, data_files, synthetic

# every removed file is past its retention at once, so VACUUM has something to delete in a test
NO_RETENTION = {"log": "interval 30 days", "deleted_files": "interval 0 hours"}


def _lake(settings, tmp_path: Path, **retention):
    lake = settings.replace(lakehouse_root=str(tmp_path / "lakehouse"))
    return lake.merged({"maintenance": {"retention": retention}}) if retention else lake


def _months(frame, column: str, months: tuple[str, ...]):
    """``frame`` with ``column`` cycling through ``months`` (a few partitions instead of one per row)."""
    pick = F.element_at(F.array(*[F.lit(m) for m in months]), (F.col("n") % len(months) + 1).cast("int"))
    return frame.withColumn("n", F.monotonically_increasing_id()).withColumn(column, pick).drop("n")


def test_new_tables_get_their_layers_retention_and_existing_ones_get_it_from_the_run(spark, settings, tmp_path):
    lake = _lake(settings, tmp_path)
    io.ensure_table(spark, "tax_filings", settings=lake)
    properties = io.table_properties(spark, "tax_filings", settings=lake)
    assert properties[io.LOG_RETENTION] == "interval 90 days"
    assert properties[io.DELETED_FILE_RETENTION] == "interval 30 days"
    # a table declared with its own properties keeps them beside the layer's
    io.ensure_table(spark, "risk_scores", settings=lake)
    scores = io.table_properties(spark, "risk_scores", settings=lake)
    assert scores["delta.enableChangeDataFeed"] == "true" and scores[io.LOG_RETENTION] == "interval 1825 days"

    changed = _lake(settings, tmp_path, silver={"log": "interval 120 days", "deleted_files": "interval 14 days"})
    summary = maintenance.apply_retention(spark, settings=changed, tables=["tax_filings", "risk_scores"])
    assert summary["changed"] == {
        "tax_filings": {io.LOG_RETENTION: "interval 120 days", io.DELETED_FILE_RETENTION: "interval 14 days"}
    }
    assert io.table_properties(spark, "tax_filings", settings=lake)[io.DELETED_FILE_RETENTION] == "interval 14 days"
    version = io.version(spark, "tax_filings", settings=lake)
    assert maintenance.apply_retention(spark, settings=changed, tables=["tax_filings"])["changed"] == {}
    assert io.version(spark, "tax_filings", settings=lake) == version  # nothing to set: no commit


def test_profile_refuses_a_log_retention_shorter_than_the_files(settings):
    with pytest.raises(ValueError, match="shorter than deleted_files"):
        settings.merged(
            {"maintenance": {"retention": {"ops": {"log": "interval 1 days", "deleted_files": "interval 7 days"}}}}
        )
    with pytest.raises(ValueError, match="interval N hours"):
        settings.merged({"maintenance": {"retention": {"ops": {"log": "30 days"}}}})


def _score_rows(spark, lake, rows: list[dict]):
    spec = io._spec("risk_scores")
    defaults = {
        "snapshot_date": dt.date(2021, 6, 30),
        "snapshot_month": "2021-06",
        "pd": 0.02,
        "score": 600.0,
        "grade": "3",
        "grade_num": 3,
        "model_name": "m",
        "model_version": "1",
        "features_version": 0,
    }
    return spec.rows_to_df(spark, [{**defaults, **row} for row in rows])


def test_gold_constraints_come_from_the_declared_rules_and_a_violating_write_fails(spark, settings, tmp_path):
    lake = _lake(settings, tmp_path)
    io.ensure_table(spark, "risk_scores", settings=lake)
    first = maintenance.ensure_constraints(spark, settings=lake, tables=["risk_scores"])["tables"]["risk_scores"]
    declared = maintenance.declared_constraints("risk_scores")
    assert (
        set(first["added"])
        == set(declared)
        >= {
            "rule_pd_non_negative",
            "rule_pd_at_most_max",
            "rule_grade_num_at_least_min",
            "rule_uscc_uscc_format",
            "rule_uscc_uscc_check_digit",
        }
    )
    stored = io.check_constraints(spark, "risk_scores", settings=lake)
    assert stored.keys() == declared.keys()
    assert all(maintenance.same_condition(stored[name], declared[name]) for name in declared)
    # idempotent: the same expressions are left; a changed one is replaced, a hand-made one kept
    io.drop_check_constraint(spark, "risk_scores", "rule_pd_at_most_max", settings=lake)
    io.add_check_constraint(spark, "risk_scores", "rule_pd_at_most_max", "pd <= 2", settings=lake)
    io.add_check_constraint(spark, "risk_scores", "by_hand", "score > -1e9", settings=lake)
    again = maintenance.ensure_constraints(spark, settings=lake, tables=["risk_scores"])["tables"]["risk_scores"]
    assert again["replaced"] == ["rule_pd_at_most_max"] and not again["added"] and not again["dropped"]
    stored = io.check_constraints(spark, "risk_scores", settings=lake)
    assert stored.keys() == {*declared, "by_hand"} and stored["rule_pd_at_most_max"] == "pd IS NULL OR pd <= 1"

    valid = generate(np.random.default_rng(7), "110000")
    io.append(_score_rows(spark, lake, [{"uscc": valid}]), "risk_scores", settings=lake)
    with pytest.raises(Exception, match=r"DELTA_VIOLATE_CONSTRAINT_WITH_VALUES.*rule_pd_at_most_max") as failed:
        io.append(_score_rows(spark, lake, [{"uscc": valid, "pd": 1.5}]), "risk_scores", settings=lake)
    assert "pd : 1.5" in str(failed.value)
    with pytest.raises(Exception, match=r"CHECK constraint rule_uscc_uscc_check_digit"):
        io.append(
            _score_rows(spark, lake, [{"uscc": valid[:-1] + ("0" if valid[-1] != "0" else "1")}]),
            "risk_scores",
            settings=lake,
        )
    assert io.read(spark, "risk_scores", settings=lake).count() == 1


def test_rows_that_break_a_new_rule_refuse_its_constraint_and_keep_the_old_one(spark, settings, tmp_path):
    lake = _lake(settings, tmp_path)
    io.append(_score_rows(spark, lake, [{"uscc": "not-a-uscc"}]), "risk_scores", settings=lake)
    with pytest.raises(maintenance.MaintenanceRefusedError) as refused:
        maintenance.ensure_constraints(spark, settings=lake, tables=["risk_scores"])
    assert re.search(
        r"risk_scores: rule_uscc_uscc_format: .*1 rows? in .* violate the new CHECK constraint", str(refused.value)
    )
    # the rules the row keeps get their constraints all the same
    assert {"rule_pd_at_most_max", "rule_grade_num_at_least_min"} <= set(
        io.check_constraints(spark, "risk_scores", settings=lake)
    )
    assert "rule_uscc_uscc_format" not in io.check_constraints(spark, "risk_scores", settings=lake)


def _transactions(spark, rows: int, offset: int, months=("2021-01", "2021-02")):
    return _months(synthetic(spark, "transactions", rows, offset=offset), "txn_month", months)


def test_compaction_reduces_the_files_keeps_the_content_and_rewrites_only_what_changed(spark, settings, tmp_path):
    lake = _lake(settings, tmp_path)
    for batch in range(4):  # four daily batches: a small file per month each
        io.append(_transactions(spark, 20, offset=100 * batch), "transactions", settings=lake)
    before = content_hash(io.read(spark, "transactions", settings=lake))
    files = io.data_files(spark, "transactions", settings=lake)
    assert len(files) == 8

    result = maintenance.compact(spark, settings=lake, tables=["transactions"])["tables"][0]
    assert result["zorder_by"] == ["txn_id"] and result["files_before"] == 8 and result["files_after"] == 2
    assert content_hash(io.read(spark, "transactions", settings=lake)) == before
    table_dir = Path(io.table_path("transactions", settings=lake))
    january = {f for f in io.data_files(spark, "transactions", settings=lake) if f.startswith("txn_month=2021-01/")}

    again = maintenance.compact(spark, settings=lake, tables=["transactions"])["tables"][0]
    assert again["skipped"] == "nothing committed since the last OPTIMIZE"
    io.append(_transactions(spark, 10, offset=900, months=("2021-02",)), "transactions", settings=lake)
    later = maintenance.compact(spark, settings=lake, tables=["transactions"])["tables"][0]
    assert later["partitions"] == 1 and later["files_before"] == 3 and later["files_after"] == 2
    # January was not written since: its file is the one the first run wrote
    assert {
        f for f in io.data_files(spark, "transactions", settings=lake) if f.startswith("txn_month=2021-01/")
    } == january
    assert january <= data_files(table_dir)


def _features(spark, rows: int, offset: int, month: str):
    frame = synthetic(spark, "enterprise_features", rows, offset=offset)
    return frame.withColumn("snapshot_month", F.lit(month)).withColumn(
        "snapshot_date", F.last_day(F.to_date(F.lit(month + "-01")))
    )


def _replace_month(spark, lake, rows: int, offset: int, month: str) -> int:
    io.replace_where(
        _features(spark, rows, offset, month), "enterprise_features", f"snapshot_month = '{month}'", settings=lake
    )
    return io.version(spark, "enterprise_features", settings=lake)


def test_vacuum_refuses_to_break_a_scored_snapshot_and_removes_what_is_unpinned(spark, settings, tmp_path):
    lake = _lake(settings, tmp_path, gold=NO_RETENTION)
    _replace_month(spark, lake, 6, 0, "2021-05")
    scored_from = _replace_month(spark, lake, 6, 100, "2021-06")
    june = content_hash(io.read(spark, "enterprise_features", version=scored_from, settings=lake))
    io.append(_score_rows(spark, lake, [{"uscc": "u", "features_version": scored_from}]), "risk_scores", settings=lake)
    rebuilt = _replace_month(spark, lake, 6, 200, "2021-06")  # June's features rebuilt after scoring
    table_dir = Path(io.table_path("enterprise_features", settings=lake))
    on_disk = data_files(table_dir)

    pins = snapshot_pins(spark, lake)
    assert pins == [
        Pin(
            "enterprise_features",
            scored_from,
            "scored snapshot 2021-06-30 (risk_scores)",
            ("snapshot_month", "2021-06"),
        )
    ]
    with pytest.raises(maintenance.VacuumRefusedError) as refused:
        maintenance.vacuum(spark, settings=lake, tables=["enterprise_features"])
    message = str(refused.value)
    assert re.search(
        rf"scored snapshot 2021-06-30 \(risk_scores\) pins enterprise_features version {scored_from} "
        r"\(partition snapshot_month=2021-06\): \d+ of its files would be deleted",
        message,
    ), message
    assert data_files(table_dir) == on_disk
    assert content_hash(io.read(spark, "enterprise_features", version=scored_from, settings=lake)) == june

    # the snapshot scored again from the rebuilt features releases the pin: VACUUM deletes the old files
    io.replace_where(
        _score_rows(spark, lake, [{"uscc": "u", "features_version": rebuilt}]),
        "risk_scores",
        "snapshot_month = '2021-06'",
        settings=lake,
    )
    result = maintenance.vacuum(spark, settings=lake, tables=["enterprise_features"])["tables"][0]
    assert result["files_deleted"] > 0
    assert data_files(table_dir) == io.data_files(spark, "enterprise_features", settings=lake)
    assert data_files(table_dir) < on_disk


def test_vacuum_and_compaction_leave_a_registered_models_training_data(spark, settings, tmp_path):
    from mlflow import MlflowClient

    lake = _lake(settings, tmp_path, gold=NO_RETENTION).replace(model_name=f"pins_{tmp_path.name}"[:60])
    trained_on = _replace_month(spark, lake, 6, 0, "2021-05")
    client = MlflowClient(tracking_uri=lake.mlflow_tracking_uri, registry_uri=lake.mlflow_tracking_uri)
    client.create_registered_model(lake.model_name)
    client.create_model_version(
        lake.model_name,
        source=str(tmp_path / "model"),
        tags={"data.table": "enterprise_features", "data.version": str(trained_on)},
    )
    client.set_registered_model_alias(lake.model_name, "champion", "1")
    owner = f"model {lake.model_name} version 1 @champion"
    assert model_pins(lake) == [Pin("enterprise_features", trained_on, owner)]

    for batch in range(2):
        io.append(_features(spark, 3, 300 + 10 * batch, "2021-06"), "enterprise_features", settings=lake)
    compacted = maintenance.compact(spark, settings=lake, tables=["enterprise_features"])["tables"][0]
    # May's files are the pinned version's: rewriting them would hand the pin over to VACUUM
    assert compacted["partitions_held_by_pins"] == ["2021-05"] and compacted["partitions"] == 1

    _replace_month(spark, lake, 6, 100, "2021-05")  # the month rebuilt after training
    expected = rf"{owner} pins enterprise_features version {trained_on}: \d+ of its files would be deleted"
    with pytest.raises(maintenance.VacuumRefusedError, match=expected):
        maintenance.vacuum(spark, settings=lake, tables=["enterprise_features"])
    assert io.read(spark, "enterprise_features", version=trained_on, settings=lake).count() == 6
