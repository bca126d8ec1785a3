"""The bottom layer of riskpipe: what every job, model and check stands on.

* :mod:`riskpipe.core.config` - settings (conf/*.yaml), paths, the repository root;
* :mod:`riskpipe.core.spark` - the Spark session; :mod:`riskpipe.core.jars` - the jars it loads;
* :mod:`riskpipe.core.io` - Delta reads and writes of the registered tables;
* :mod:`riskpipe.core.calendar` - point-in-time dates, months and snapshot versions;
* :mod:`riskpipe.core.frames` - small literal frames and column helpers;
* :mod:`riskpipe.core.aggregates` - order-independent sums for rewritten gold tables;
* :mod:`riskpipe.core.uscc` - the unified social credit code check digit.

The core imports only ``schemas`` and libraries (the import-linter contract in pyproject.toml);
the CLI, bench, simulator and test services live above it in ``riskpipe`` and are never imported by it.
"""
