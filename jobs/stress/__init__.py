"""Stress tests of the portfolio (docs/portfolio.md).

* :mod:`jobs.stress.scenarios` - scenarios from conf/stress_scenarios.yaml and ``apply_scenario`` (pure);
* :mod:`jobs.stress.compare` - stressed vs baseline totals, fund adequacy and grade migration (pure);
* :mod:`jobs.stress.main` - ``run(as_of, scenarios=)`` / ``run_all(as_of)``: rescore and write
  ``stress_results`` and ``stress_migration``.
"""

from jobs.stress.main import run, run_all
from jobs.stress.scenarios import BASELINE, Scenario, Shock, apply_scenario, load_scenarios

__all__ = ["BASELINE", "Scenario", "Shock", "apply_scenario", "load_scenarios", "run", "run_all"]
