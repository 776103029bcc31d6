#!/usr/bin/env bash
# Run every benchmark and print its figures (about 10 minutes on a 2-core machine; the 50k-chunk retrieval run and
# the 100k-client reminder run take most of it). Uses .venv when present (scripts/test.sh or scripts/demo.sh make it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
export PYTHONPATH="$PWD"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB RAM, $($PY --version)"
echo "== callback acknowledgement";  $PY bench/bench_callback.py "$@"
echo "== compliance screening";      $PY bench/bench_compliance.py --semantic
echo "== retrieval";                 $PY bench/bench_retrieval.py
echo "== reminders (100k clients)";  $PY bench/bench_reminders.py
