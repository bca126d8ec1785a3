"""Every test that runs on the shared simulator pipeline (the ``sim_pipeline`` session fixture).

They are collected here, in one module, so that ``make test`` (pytest-xdist, ``--dist loadfile``)
runs them on one worker and the pipeline is built once per session. The tests live next to
the code they test:

- ``tests/jobs/features/sim_signal.py``: features rank later defaults out of time (issue 4);
- ``tests/models/sim_champion.py``: the champion's out-of-time AUC and calibration by grade (issue 5);
- ``tests/jobs/sim_scoring.py``: scoring, warnings, watch list, classes, the report in Chromium and
  one definition of default across labels, classes, IFRS 9 stages and the portfolio (issue 31).
"""

from tests.jobs.features.sim_signal import *  # noqa: F401,F403
from tests.jobs.sim_scoring import *  # noqa: F401,F403
from tests.models.sim_champion import *  # noqa: F401,F403
