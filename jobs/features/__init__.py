"""Point-in-time enterprise features and default labels (gold layer).

One module per feature family (``tax``, ``utility``, ``court``, ``transactions``,
``loans``, ``consistency``, plus the enterprise ``profile``), the catalogue that
documents every feature (``catalogue``), the point-in-time helpers (``pit``), the
assembly of snapshots (``build``), the labels (``labels``), change detection for
incremental builds (``incremental``) and the thin I/O entry points (``main``).

This package module stays import-light: ``schemas.gold_features`` imports the
catalogue at schema-registration time.
"""
