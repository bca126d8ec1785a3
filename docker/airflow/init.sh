#!/bin/bash
# One-shot job before the Airflow services start (compose service airflow-init); safe to rerun.
# 1. `airflow db migrate` on the PostgreSQL metadata database and the riskpipe_delta_writer pool
#    (RISKPIPE_DELTA_WRITER_SLOTS slots), through riskpipe's own helper so that the pool name and
#    size rules are the same as on a laptop (riskpipe/airflow_env.py);
# 2. the admin login of Airflow's SimpleAuthManager: its password file is written from
#    AIRFLOW_ADMIN_USER / AIRFLOW_ADMIN_PASSWORD (never generated into the logs).
# Source-system connections need no step here: they come from AIRFLOW_CONN_* or RISKPIPE_*
# environment variables at run time (jobs/ingest/connectors/credentials.py).
set -euo pipefail

: "${AIRFLOW_ADMIN_USER:?AIRFLOW_ADMIN_USER is not set}"
: "${AIRFLOW_ADMIN_PASSWORD:?AIRFLOW_ADMIN_PASSWORD is not set}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE is not set}"

python - <<'PY'
from riskpipe.airflow_env import DELTA_WRITER_POOL, delta_writer_slots, ensure_airflow_db

env = ensure_airflow_db(force=True)
print(f"airflow metadata database migrated; pool {DELTA_WRITER_POOL} = {delta_writer_slots(env)} slot(s)")
PY

python - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}) + "\n")
path.chmod(0o600)
print(f"airflow login {os.environ['AIRFLOW_ADMIN_USER']!r} written to {path}")
PY
