#!/usr/bin/env bash
# System packages the test suite runs for real (`make test` calls this first):
#   java                 Spark's JVM (demo and tests)
#   postgresql           JDBC ingestion, Airflow's metadata database, the MLflow server's store
#   chromium             renders the HTML report and the data docs in a headless browser
#   fonts-noto-cjk       county names and 万元 units in the report, as on a bank officer's desktop
# Missing ones are installed from Debian's packages when running as root with apt-get; otherwise
# this stops at once and prints the one command that installs them.
# Go, which builds the compose check's tool (tests/docker/build-compose-config.sh) and the S3 server
# of tests/test_s3_lakehouse.py (tests/s3/build-s3-server.sh), is only checked: it comes with the
# machine, and Debian bookworm's golang-go (1.19) is older than those tools need.
set -euo pipefail

"$(dirname "$0")/docker/build-compose-config.sh" --check

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  missing+=(postgresql)
fi
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
ls /usr/share/fonts/opentype/noto/NotoSansCJK-* >/dev/null 2>&1 || missing+=(fonts-noto-cjk)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
install_cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null || [ -n "${RISKPIPE_NO_SYSTEM_INSTALL:-}" ]; then
  echo "make test needs system packages that are missing: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get update && sudo ${install_cmd}" >&2
  exit 1
fi
echo "Installing system packages the tests use: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
