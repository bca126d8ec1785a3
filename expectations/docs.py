"""Quiet Great Expectations contexts and the local Data Docs site.

Every validation gets its own ephemeral context (cheap, no shared state between
concurrent tasks). When Data Docs are wanted, the context's validation results are
also kept as JSON under ``<data_docs_dir>/.validations`` so that the site index,
rebuilt after each run, lists every batch validated so far, not only the last one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig

SITE_NAME = "riskpipe"
RESULTS_STORE = "riskpipe_validation_results"
RESULTS_SUBDIR = ".validations"


def quiet_context(data_docs_dir: str | os.PathLike | None = None):
    """An ephemeral Great Expectations context without analytics or progress bars.

    Args:
        data_docs_dir: when given, a local Data Docs site is configured there and
            validation results persist under ``<data_docs_dir>/.validations``.

    Returns:
        An ``EphemeralDataContext``.
    """
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if data_docs_dir is not None:
        root = Path(data_docs_dir).resolve()
        root.mkdir(parents=True, exist_ok=True)
        context.add_store(
            RESULTS_STORE,
            {
                "class_name": "ValidationResultsStore",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(root / RESULTS_SUBDIR),
                },
            },
        )
        context.variables.validation_results_store_name = RESULTS_STORE
        context.add_data_docs_site(
            site_name=SITE_NAME,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(root)},
            },
        )
    return context


def build_data_docs(context) -> str:
    """Render the Data Docs site of ``context`` and return the path of its index.html."""
    urls = context.build_data_docs(site_names=[SITE_NAME])
    url = urls[SITE_NAME]
    return url[len("file://") :] if url.startswith("file://") else url
