"""Training a table that is not ours: string columns as categorical features, the column roles
the trainer reports, no inherited label table, and the documented ``riskpipe train`` command."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.models.synthetic import CATEGORY_EFFECTS, MIXED_NUMERIC, mixed_table

REPO = Path(__file__).resolve().parents[2]
CATEGORICAL = list(CATEGORY_EFFECTS)
MIXED_SPLIT = "2021-07-01"


def _roles(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    return {r.column: (r.role, r.reason) for r in frame.itertuples()}


def test_column_roles_say_what_every_column_is_for_and_why_not():
    from models.config import DataConfig
    from models.data import column_roles, features_of, screen_features

    config = DataConfig(
        id_col="customer_id", date_col="as_of", label_col="bad_12m", exclude_cols=("gov_flag",), max_categories=3
    )
    dtypes = [
        ("customer_id", "string"),
        ("as_of", "date"),
        ("income", "double"),
        ("loans", "bigint"),
        ("purpose", "string"),
        ("branch", "varchar(8)"),
        ("opened_on", "timestamp"),
        ("tags", "array<string>"),
        ("gov_flag", "boolean"),
        ("censored", "boolean"),
        ("amount", "decimal(12,2)"),
        ("country", "string"),
        ("bad_12m", "int"),
    ]
    roles = column_roles(dtypes, config)
    assert list(roles.columns) == ["column", "type", "role", "reason"]
    assert roles["column"].tolist() == [name for name, _ in dtypes]
    found = _roles(roles)
    assert {c: found[c][0] for c in ("customer_id", "as_of", "bad_12m", "censored")} == {
        "customer_id": "id",
        "as_of": "date",
        "bad_12m": "label",
        "censored": "exclusion_flag",
    }
    assert found["gov_flag"] == ("dropped", "excluded by config (data.exclude_cols)")
    assert found["opened_on"] == ("dropped", "unsupported type timestamp")
    assert found["tags"] == ("dropped", "unsupported type array<string>")
    assert features_of(roles, "numeric") == ["income", "loans", "amount"]
    assert features_of(roles, "categorical") == ["purpose", "branch", "country"]

    rows = pd.DataFrame(
        {
            "income": [1.0, 2.0, np.nan, 4.0],
            "loans": [1.0, 1.0, 1.0, np.nan],
            "amount": [np.nan] * 4,
            "purpose": ["a", "b", None, "a"],
            "branch": ["x", "y", "z", "w"],
            "country": ["CN"] * 4,
        }
    )
    screened = _roles(screen_features(rows, roles, max_categories=config.max_categories))
    assert screened["loans"] == ("dropped", "constant (one value in the modelling rows)")
    assert screened["amount"] == ("dropped", "no values in the modelling rows")
    assert screened["country"] == ("dropped", "constant (one value in the modelling rows)")
    assert screened["branch"] == ("dropped", "too many categories (4 > data.max_categories 3)")
    assert [c for c, (role, _) in screened.items() if role in ("numeric", "categorical")] == ["income", "purpose"]

    # an explicit list: a numeric code column can be categorical, other string columns are not features
    listed = _roles(column_roles(dtypes, replace(config, categorical_features=("loans",))))
    assert listed["loans"] == ("categorical", "listed in data.categorical_features")
    assert listed["purpose"] == ("dropped", "string column not in data.categorical_features")
    with pytest.raises(ValueError, match="opened_on"):
        column_roles(dtypes, replace(config, features=("income", "opened_on")))
    with pytest.raises(ValueError, match="not in the table"):
        column_roles(dtypes, replace(config, categorical_features=("housing",)))


def test_a_table_named_in_a_layer_does_not_inherit_our_label_table(settings):
    from models.config import model_config

    profile = model_config(settings)
    assert profile.data.label_table == "default_labels" and profile.data.categorical_features == ()
    flags = {"data": {"table": "/tmp/extract.parquet", "format": "parquet", "id_col": "customer_id"}}
    foreign = model_config(settings, flags)
    assert foreign.data.label_table is None and foreign.data.version is None
    assert foreign.data.categorical_features is None  # every string column of the other table
    assert foreign.data.exclusion_flags == profile.data.exclusion_flags  # ignored when absent
    yaml_layer = {"data": {"table": "bureau", "label_table": "bureau_labels", "label_version": 4}}
    with_labels = model_config(settings, yaml_layer)
    assert (with_labels.data.label_table, with_labels.data.label_version) == ("bureau_labels", 4)
    # flags naming the same table keep what the YAML layer said about it; another table does not
    assert model_config(settings, yaml_layer, {"data": {"table": "bureau"}}).data.label_table == "bureau_labels"
    assert model_config(settings, yaml_layer, {"data": {"table": "other"}}).data.label_table is None
    same = model_config(settings, {"data": {"table": profile.data.table, "split_date": "2020-01-01"}})
    assert same.data.label_table == "default_labels"
    assert model_config(settings, {"data": {"categorical_features": "a, b"}}).data.categorical_features == ("a", "b")


@pytest.fixture(scope="module")
def mixed_states(settings):
    """Scorecard and LightGBM states fitted in memory on :func:`mixed_table`."""
    from models.config import model_config
    from models.data import TrainingData, out_of_time_split
    from models.train import fit_state

    frame = mixed_table()
    train, valid = out_of_time_split(frame, date_col="as_of", split_date=MIXED_SPLIT)
    data = TrainingData(train, valid, MIXED_NUMERIC + CATEGORICAL)
    config = model_config(
        settings,
        {
            "data": {"id_col": "customer_id", "date_col": "as_of", "label_col": "bad_12m"},
            "lightgbm": {"num_boost_round": 60},
            "calibration": {"cv_folds": 2},
        },
    )
    return data, {kind: fit_state(kind, data, config) for kind in ("scorecard", "lightgbm")}


def test_scorecard_bins_string_columns_by_category(mixed_states):
    from models.pyfunc import Scorer
    from models.scorecard import UNSEEN_LABEL

    data, states = mixed_states
    state, tables = states["scorecard"]
    scorer = Scorer(state)
    assert scorer.categorical == CATEGORICAL and set(CATEGORICAL) <= set(scorer.card.features)
    points = tables["points_table"]
    purpose = points[points["feature"] == "purpose"]
    listed = {
        c
        for label in purpose["bin"]
        if label.startswith("[")
        for c in label.removesuffix(UNSEEN_LABEL).strip("[]").split(", ")
    }
    assert listed == set(CATEGORY_EFFECTS["purpose"])
    # the rare category is in the "others" bin, which is where an unseen category scores
    others = purpose[purpose["bin"].str.endswith(UNSEEN_LABEL)]
    assert others["bin"].tolist() == ["[bridge]" + UNSEEN_LABEL]
    row = data.valid.head(1).assign(purpose="working_capital")
    rows = pd.concat(
        [row, row.assign(purpose="crypto"), row.assign(purpose=" bridge "), row.assign(purpose=None)], ignore_index=True
    )
    points_of = scorer.card.points_matrix(scorer._matrix(rows))[:, scorer.card.features.index("purpose")]
    assert points_of[1] == points_of[2] == pytest.approx(float(others["points"].iloc[0]), abs=0.01)
    assert points_of[3] == pytest.approx(float(purpose.loc[purpose["bin"] == "Missing", "points"].iloc[0]), abs=0.01)
    out = scorer.predict(rows)
    assert out["pd"].between(0, 1).all() and out.loc[1, "score"] < out.loc[0, "score"]
    assert "PURPOSE" in out.loc[1, ["reason_1", "reason_2", "reason_3"]].tolist()  # points lost vs best bin
    # a housing category unseen and without an "others" bin scores like a missing value
    housing = scorer.predict(pd.concat([row.assign(housing="boat"), row.assign(housing=None)], ignore_index=True))
    assert housing.loc[0, "score"] == housing.loc[1, "score"]


def test_lightgbm_takes_string_columns_as_categories(mixed_states):
    from models.pyfunc import Scorer

    data, states = mixed_states
    state, _ = states["lightgbm"]
    assert state["categories"]["housing"] == sorted(CATEGORY_EFFECTS["housing"])
    scorer = Scorer(state)
    assert scorer.categorical == CATEGORICAL
    row = data.valid.head(1)
    rows = pd.concat(
        [
            row.assign(purpose="refinance"),
            row.assign(purpose="equipment"),
            row.assign(purpose="crypto"),
            row.assign(purpose=np.nan),
        ],
        ignore_index=True,
    )
    out = scorer.predict(rows)
    assert out.loc[0, "pd"] > out.loc[1, "pd"]  # refinance is riskier than equipment
    assert out.loc[2, "pd"] == out.loc[3, "pd"]  # unseen category = missing
    assert out["pd"].between(0, 1).all()


def test_feature_psi_of_a_categorical_column():
    from models.evaluate import psi

    rng = np.random.default_rng(5)
    sample = pd.Series(rng.choice(["a", "b", "c"], 4000, p=[0.5, 0.3, 0.2]), dtype=object)
    assert psi(sample, sample) == 0.0
    assert psi(sample, pd.Series(rng.choice(["a", "b", "c"], 4000, p=[0.5, 0.3, 0.2]), dtype=object)) < 0.01
    assert psi(sample, pd.Series(rng.choice(["a", "b", "new"], 4000, p=[0.2, 0.3, 0.5]), dtype=object)) > 0.25


def _write_extract(path: Path, frame: pd.DataFrame) -> str:
    """The extract as a bureau would send it: a few columns the trainer must leave out."""
    extra = frame.assign(
        application_no=[f"A{i:07d}" for i in range(len(frame))], opened_on=frame["as_of"], source_system="bureau_x"
    )
    extra.to_parquet(path, index=False)
    return str(path)


@pytest.fixture(scope="module")
def mixed_trained(spark, settings, tracking_uri, artifact_root, tmp_path_factory):
    """:func:`mixed_table` as Parquet, loaded by the trainer and trained, logged and registered."""
    from models.config import model_config
    from models.data import load_training_data
    from models.train import train

    table = _write_extract(tmp_path_factory.mktemp("extract") / "extract.parquet", mixed_table(n_ids=150))
    config = model_config(
        settings,
        {
            "name": "sme_pd_mixed",
            "experiment": "test-sme_pd_mixed",
            "tracking_uri": tracking_uri,
            "artifact_root": artifact_root,
            "lightgbm": {"num_boost_round": 60},
            "calibration": {"cv_folds": 2},
            "data": {
                "table": table,
                "format": "parquet",
                "id_col": "customer_id",
                "date_col": "as_of",
                "label_col": "bad_12m",
                "split_date": MIXED_SPLIT,
            },
        },
    )
    data = load_training_data(config.data, spark=spark, settings=settings)
    return config, data, train(config, spark=spark, data=data, settings=settings)


def test_loading_an_extract_reports_the_role_of_every_column(mixed_trained):
    config, data, result = mixed_trained
    assert data.features == MIXED_NUMERIC + CATEGORICAL
    assert data.train["purpose"].dtype == object and data.train["employment_band"].isna().any()
    assert set(data.train["housing"]) == set(CATEGORY_EFFECTS["housing"])
    roles = _roles(data.columns)
    assert roles["application_no"][0] == "dropped" and roles["application_no"][1].startswith("too many categories")
    assert roles["opened_on"] == ("dropped", "unsupported type date")
    assert roles["source_system"] == ("dropped", "constant (one value in the modelling rows)")
    assert data.source["features_categorical"] == 3 and "label_table" not in data.source

    mlflow.set_tracking_uri(config.tracking_uri)
    logged = mlflow.artifacts.download_artifacts(
        run_id=result.models["scorecard"].run_id, artifact_path="evaluation/columns.csv"
    )
    columns = pd.read_csv(logged, keep_default_na=False)
    assert columns["column"].tolist() == data.columns["column"].tolist()
    scorecard = dict(zip(columns["column"], columns["scorecard"]))
    assert {scorecard[c] for c in CATEGORICAL} == {"in model"}
    assert scorecard["customer_id"] == ""


def test_served_model_takes_string_columns(mixed_trained):
    from models.pyfunc import Scorer

    config, data, result = mixed_trained
    mlflow.set_tracking_uri(config.tracking_uri)
    rows = data.valid[MIXED_NUMERIC + CATEGORICAL].head(20).reset_index(drop=True)
    rows.loc[0, "purpose"], rows.loc[1, "housing"], rows.loc[2, "employment_band"] = "crypto", None, "  "
    for kind, model in result.models.items():
        uri = f"models:/{config.name}/{model.version}"
        inputs = {c.name: str(c.type) for c in mlflow.models.get_model_info(uri).signature.inputs.inputs}
        assert {inputs[c] for c in CATEGORICAL} == {"DataType.string"}, kind
        assert {inputs[c] for c in MIXED_NUMERIC} == {"DataType.double"}, kind
        served = mlflow.pyfunc.load_model(uri).predict(rows)
        expected = Scorer(_state(config, model.version)).predict(rows)
        np.testing.assert_allclose(served["pd"], expected["pd"], rtol=1e-12)
        assert served["reason_1"].tolist() == expected["reason_1"].tolist()
    points = mlflow.artifacts.download_artifacts(
        run_id=result.models["scorecard"].run_id, artifact_path="evaluation/points_table.csv"
    )
    assert set(CATEGORICAL) <= set(pd.read_csv(points)["feature"])


def _state(config, version) -> dict:
    import json

    path = mlflow.artifacts.download_artifacts(f"models:/{config.name}/{version}")
    with open(os.path.join(path, "artifacts", "state.json"), encoding="utf-8") as handle:
        return json.load(handle)


def documented_train_command() -> list[str]:
    """The ``riskpipe train --table ...`` example of docs/models.md, as arguments."""
    text = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    found = re.search(r"^riskpipe train --table (?:.*\\\n)*.*$", text, flags=re.MULTILINE)
    assert found, "docs/models.md lost its `riskpipe train --table` example"
    return shlex.split(found.group(0).replace("\\\n", " "))


def test_the_documented_train_command_trains_a_parquet_extract(tmp_path):
    """Run the documented command as a new user would: a fresh MLflow store, no label table."""
    args = documented_train_command()
    split = dt.date.fromisoformat(args[args.index("--split-date") + 1])
    frame = mixed_table(n_ids=120, months=24, start=str(split.replace(year=split.year - 1)))
    args[args.index("--table") + 1] = _write_extract(tmp_path / "extract.parquet", frame)
    assert args[:2] == ["riskpipe", "train"]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "RISKPIPE_MLFLOW_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-m", "riskpipe.cli", *args[1:]],
        cwd=REPO,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    for kind in ("scorecard", "lightgbm"):
        assert re.search(rf"^{kind}\s+version=\d+\s+OOT AUC=0\.\d{{4}} Gini=", out, flags=re.MULTILINE), out
    assert f"numeric features (3): {', '.join(MIXED_NUMERIC)}" in out
    assert f"categorical features (3): {', '.join(CATEGORICAL)}" in out
    assert re.search(r"application_no\s+string\s+dropped: too many categories", out), out
    assert re.search(r"opened_on\s+date\s+dropped: unsupported type date", out), out
    assert re.search(r"customer_id\s+string\s+id: ", out), out
    assert "@challenger -> version" in out
