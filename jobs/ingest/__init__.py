"""Ingestion: landed files, the core-banking database and the court API into bronze, then silver.

* :mod:`jobs.ingest.run` - ``run_source``: one feed over a data interval (the DAGs' and CLI's entry point);
* :mod:`jobs.ingest.court_api` / :mod:`jobs.ingest.core_banking` - the REST and JDBC feeds;
* :mod:`jobs.ingest.batch` - one batch: bronze append, validation, quarantine, silver merge, exactly once;
* :mod:`jobs.ingest.bronze`, :mod:`jobs.ingest.quarantine` - raw reads with lineage, rejected rows;
* :mod:`jobs.ingest.continuity`, :mod:`jobs.ingest.gaps` - late and missing deliveries;
* :mod:`jobs.ingest.backfill`, :mod:`jobs.ingest.restore` - history reloads and table restores;
* :mod:`jobs.ingest.connectors` - files, JDBC, REST and credentials.

Ingestion sits above :mod:`jobs.silver`: a batch calls the silver builders of its table.
"""
