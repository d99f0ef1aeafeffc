#!/usr/bin/env bash
# Run all tests (notebooks + pytest) with the project's venv; last line: "N passed, N failed".
cd "$(dirname "$0")/.." && { [ -x .venv/bin/python ] && PY=.venv/bin/python || PY=python3; } && exec "$PY" tests/run_all.py "$@"
