#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run it.
#   bash scripts/test.sh [pytest args...]
# System packages (as root): PostgreSQL 15 (started and given a test database) and Chromium + ChromeDriver for the
# browser tests. Python packages: a virtualenv in .venv pinned by requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
command -v pg_ctlcluster >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "== starting PostgreSQL"
PG_VERSION=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
$SUDO pg_ctlcluster "$PG_VERSION" main start 2>/dev/null || true
for _ in $(seq 1 30); do
  $SUDO su postgres -c "pg_isready -q" && break
  sleep 1
done
$SUDO su postgres -c "psql -qtAc \"select 1 from pg_roles where rolname='scrm'\"" | grep -q 1 \
  || $SUDO su postgres -c "psql -qc \"create user scrm with superuser password 'scrm'\""
$SUDO su postgres -c "psql -qtAc \"select 1 from pg_database where datname='scrm_test'\"" | grep -q 1 \
  || $SUDO su postgres -c "psql -qc \"create database scrm_test owner scrm\""
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgresql+psycopg://scrm:scrm@127.0.0.1:5432/scrm_test}"

echo "== installing Python packages into .venv"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c requirements.lock -e ".[test]"

echo "== running the tests"
exec .venv/bin/python -m pytest "$@"
