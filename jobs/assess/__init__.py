"""Pre-loan assessment: features as of the assessment date, policy rules, champion score,
decision and limit, appended to the ``credit_decisions`` audit table and replayable.

``policy`` holds the pure decision rules (no Spark), ``applicant`` builds the applicant's
point-in-time values from silver, ``scoring`` loads and calls the registered model, ``record``
is the audit row, and ``main`` has the entry points :func:`assess` and :func:`replay`.
Import them from ``jobs.assess.main`` (this package module stays import-light).
"""
