"""Silver: typed, conformed, deduplicated source tables with restatement history.

One module per table (``jobs.silver.<table>``, whose ``transform`` turns bronze rows into candidate
silver rows), the shared typing (:mod:`jobs.silver.common`), value conformance
(:mod:`jobs.silver.conform`) and version chaining (:mod:`jobs.silver.history`). The lowest layer of
``jobs``: it imports no other job package; :mod:`jobs.ingest.batch` calls it.
"""
