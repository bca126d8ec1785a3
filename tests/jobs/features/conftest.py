"""Fixtures of the feature tests: synthetic silver rows and their DataFrames."""

from __future__ import annotations

import pytest

from schemas.registry import get
from tests.jobs.features import synthetic


def frames(spark, data: dict) -> dict:
    """Silver table name -> DataFrame with exactly the declared schema."""
    return {table: get(table).rows_to_df(spark, rows) for table, rows in data.items()}


@pytest.fixture(scope="session")
def silver_rows() -> dict:
    return synthetic.make()


@pytest.fixture(scope="session")
def silver(spark, silver_rows) -> dict:
    return {t: df.cache() for t, df in frames(spark, silver_rows).items()}


@pytest.fixture(scope="session")
def full_features(spark, silver):
    """``enterprise_features`` rows of every synthetic snapshot, built in one pass."""
    from jobs.features.build import features_frame

    return features_frame(silver, as_of=synthetic.SNAPSHOTS, built_from="{}").cache()
