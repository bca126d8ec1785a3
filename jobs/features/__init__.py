"""Point-in-time enterprise features and default labels (gold layer).

One module per feature family (``tax``, ``utility``, ``court``, ``transactions``,
``loans``, ``consistency``, plus the enterprise ``profile``), the assembly of
snapshots (``build``), the labels (``labels``) and the bank's default definition they
rest on (``default_definition``, also used by post-loan classification and the
portfolio), change detection for incremental builds (``incremental``) and the thin I/O
entry points (``main``). The catalogue that documents every feature is a declaration in
``schemas.feature_catalogue``; the point-in-time calendar is ``riskpipe.core.calendar``.
"""
