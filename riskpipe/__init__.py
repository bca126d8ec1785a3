"""riskpipe: SME credit-risk monitoring pipeline.

:mod:`riskpipe.core` is the bottom layer (settings, Spark session, Delta I/O, calendar) that jobs,
models and expectations stand on. The rest of this package is the top layer: the CLI and its
commands, the bench, the source simulator, the test services and the warning study, which nothing
below imports; :mod:`riskpipe.airflow_env` and :mod:`riskpipe.pipeline` (the pipeline's stages,
declared once) sit between the jobs and the DAGs. The import-linter contract in pyproject.toml
([tool.importlinter]) states the order.
"""
