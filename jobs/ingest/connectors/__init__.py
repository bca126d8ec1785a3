"""Ingestion connectors: credentials, paged REST, file drops with a manifest, incremental JDBC.

Each module is small and usable on its own; the ingestion jobs compose them.
"""
