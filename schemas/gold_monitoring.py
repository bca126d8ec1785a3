"""Gold tables of model monitoring: the training reference of each model version, and the
monthly stability, calibration and discrimination metrics of the champion.

``monitoring_reference`` is written once per registered model version (the PSI binning of
the score and of each model feature on the version's training sample), so monthly PSI never
needs the training table again (it may have been vacuumed). ``model_monitoring`` holds one
row per snapshot, metric and subject, written per snapshot month with ``replaceWhere``
(skipped when unchanged).
"""

from __future__ import annotations

from pyspark.sql.types import BooleanType, DateType, DoubleType, IntegerType, LongType, StringType, StructType

from schemas.registry import TableSpec, column, register

S, D, F, I, L, B = StringType(), DateType(), DoubleType(), IntegerType(), LongType(), BooleanType()

SUBJECT_KINDS = ("score", "feature")
METRICS = ("psi", "backtest_default_rate", "auc", "ks")
STATUSES = ("stable", "watch", "act", "green", "amber", "red")
ALERT_STATUSES = ("act", "red")

MONITORING_REFERENCE = register(
    TableSpec(
        "monitoring_reference",
        "gold",
        StructType(
            [
                column("model_name", S, "registered model name", nullable=False),
                column("model_version", S, "registered model version", nullable=False),
                column("subject", S, "'score' or the name of a model feature", nullable=False),
                column("subject_kind", S, "score or feature", nullable=False, allowed=SUBJECT_KINDS),
                column("bin", I, "bin number: 0 .. n_edges for values, n_edges + 1 for missing", nullable=False, min=0),
                column("lower", F, "inclusive lower edge of the bin (null: unbounded or the missing bin)"),
                column("upper", F, "exclusive upper edge of the bin (null: unbounded or the missing bin)"),
                column("is_missing", B, "the bin of missing (null or NaN) values", nullable=False),
                column("rows", L, "training rows in the bin", nullable=False, min=0),
                column("share", F, "rows / training_rows", nullable=False, min=0, max=1),
                column("training_rows", L, "rows of the training sample", nullable=False, min=1),
                column(
                    "source",
                    S,
                    "JSON object: MLflow run, training table and label table with their Delta versions, split date",
                    nullable=False,
                ),
            ]
        ),
        keys=("model_name", "model_version", "subject", "bin"),
        description="PSI binning of the score and each feature on a model version's training sample "
        "(edges: quantiles of the training sample; missing values in a bin of their own)",
    )
)

MODEL_MONITORING = register(
    TableSpec(
        "model_monitoring",
        "gold",
        StructType(
            [
                column("snapshot_date", D, "month-end monitored (D)", nullable=False),
                column("snapshot_month", S, "YYYY-MM of snapshot_date (partition)", nullable=False),
                column("model_name", S, "registered model that scored D", nullable=False),
                column("model_version", S, "model version that scored D", nullable=False),
                column(
                    "metric",
                    S,
                    "psi (D's scored population vs the training sample); backtest_default_rate "
                    "(realised 12-month default rate of matured snapshots); auc; ks",
                    nullable=False,
                    allowed=METRICS,
                ),
                column(
                    "subject",
                    S,
                    "psi: 'score' or a feature; backtest_default_rate: the grade ('1'..'10') or "
                    "'all'; auc and ks: the matured snapshot date (YYYY-MM-DD)",
                    nullable=False,
                ),
                column("value", F, "the metric's value", nullable=False),
                column(
                    "status",
                    S,
                    "psi: stable / watch / act; the others: green / amber / red",
                    nullable=False,
                    allowed=STATUSES,
                ),
                column("alert", B, "status is act or red: a monitoring alert", nullable=False),
                column(
                    "details",
                    S,
                    "JSON object: what the value was computed from (bins, counts, mean PD, "
                    "p-value, snapshots, thresholds)",
                    nullable=False,
                ),
            ]
        ),
        keys=("snapshot_date", "metric", "subject"),
        partition_by=("snapshot_month",),
        description="monthly stability (PSI), calibration backtest by grade and discrimination (AUC, KS) of "
        "the model that scored each month-end, with a status and an alert flag per row",
    )
)
