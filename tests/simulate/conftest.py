"""Shared simulator outputs (generated once per session, small sizes)."""

from __future__ import annotations

import dataclasses

import pytest

from riskpipe.simulate import DirtyRates, SimConfig, simulate

# Calibration data: 48 months so that 12-month growth features and 12-month default
# labels both fit; no bank transactions (not needed, and the slowest source).
CALIBRATION = dict(
    enterprises=2500, months=48, start="2018-01", seed=11, quiet=True, sources=("tax", "utility", "court", "loans")
)
# Dirty data: every source, boosted rates (truncation switched on) on a small registry.
DIRTY_BOOST = 5.0
DIRTY_TRUNCATION = 0.05
DIRTY = dict(enterprises=150, months=18, start="2019-01", seed=5, quiet=True)


@pytest.fixture(scope="session")
def calibration_data(tmp_path_factory):
    """Output root and summary of the calibration run."""
    out = tmp_path_factory.mktemp("calibration")
    return out, simulate(SimConfig(**CALIBRATION), out)


@pytest.fixture(scope="session")
def dirty_config():
    """Config with boosted defect rates."""
    rates = dataclasses.replace(DirtyRates().scaled(DIRTY_BOOST), truncated_file=DIRTY_TRUNCATION)
    return SimConfig(dirty=rates, **DIRTY)


@pytest.fixture(scope="session")
def dirty_data(tmp_path_factory, dirty_config):
    """Output root and summary of a run with every source and boosted defects."""
    out = tmp_path_factory.mktemp("dirty")
    return out, simulate(dirty_config, out)
