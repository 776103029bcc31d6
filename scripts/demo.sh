#!/usr/bin/env bash
# Install the product into .venv and run the demo (WeCom simulator + bot + console on 127.0.0.1).
#   bash scripts/demo.sh [scrm demo options...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c requirements.lock -e .
exec .venv/bin/scrm demo "$@"
