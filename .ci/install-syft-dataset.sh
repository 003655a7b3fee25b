#!/usr/bin/env bash
# The PyPI syft-dataset 0.1.21 package, in a venv of its own (its pins are not ours), so
# tests/test_dataset_compat.py can read a dataset the real package made (the test finds the
# venv at $SCQ_SYFT_DATASET_VENV, by default .syft-dataset-venv in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SCQ_SYFT_DATASET_VENV:-.syft-dataset-venv}"
if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('syft-dataset') == '0.1.21'" 2>/dev/null; then
    python -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "syft-dataset==0.1.21"
fi
"$venv/bin/python" -c "import importlib.metadata as m; print('syft-dataset', m.version('syft-dataset'))"
