#!/usr/bin/env bash
# The PyPI SyftBox 0.4.0 server and client, in a venv of their own (they pin old packages),
# for the round trip through a real SyftBox server (tests/test_real_syftbox.py finds the venv
# at $SCQ_SYFTBOX_VENV, by default .syftbox-venv in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SCQ_SYFTBOX_VENV:-.syftbox-venv}"
if [ "$("$venv/bin/syftbox" version 2>/dev/null)" != "0.4.0" ]; then
    python -m venv "$venv"
    # typer 0.15 (pinned by syftbox 0.4.0) breaks with click 8.2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "syftbox==0.4.0" "click<8.2"
fi
"$venv/bin/syftbox" version
