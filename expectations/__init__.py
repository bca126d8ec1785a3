"""Data-quality suites generated from ``schemas/`` and their validation (Great Expectations 1.x)."""

import os

# Great Expectations reads the flag when it is imported; every module of this package imports it,
# and a package's __init__ runs before any of its modules. No usage analytics leave the bank.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
