#!/usr/bin/env bash
# Regenerate sample_data/outputs/ (or the folder given): the statements (PDF), email
# messages (.eml) and journals (gl, standard, summary) of the sample months 2025-01 and
# 2025-12, from a fresh database with the example configuration. Deterministic: run it
# twice and nothing changes. See scripts/sample_outputs.py and sample_data/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3
exec "$python" scripts/sample_outputs.py "${1:-sample_data/outputs}"
