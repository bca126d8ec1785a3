"""Weekly Delta table maintenance: retention properties, CHECK constraints, compaction, VACUUM with pins.

Each step is a pipeline stage (``riskpipe.pipeline``: ``maintenance_retention``,
``maintenance_constraints``, ``maintenance_compaction``, ``maintenance_vacuum``) run by the DAG
``delta_maintenance`` and by ``riskpipe maintain``. The tables' declarations say what to do:
the layer's retention (``maintenance.retention`` of the profile), the value rules of the columns
(the same rules ``expectations`` checks silver with) and the Z-order columns (``TableSpec.zorder_by``).
Versions that something still needs are *pins* (:mod:`jobs.maintenance.pins`): neither compaction
nor VACUUM removes their files.
"""
