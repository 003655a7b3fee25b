#!/usr/bin/env bash
# Debian packages the test suite uses: chromium (browser tests), bubblewrap (sandbox tests),
# nodejs (the widgets' JavaScript unit tests), python-is-python3 (jobs in the README call
# `python`; a server whose own interpreter is private to root offers jobs the system one).
set -euo pipefail
packages=(chromium bubblewrap nodejs python-is-python3)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
