#!/usr/bin/env bash
# Debian packages the test suite uses: chromium (browser tests), bubblewrap (sandbox tests).
set -euo pipefail
packages=(chromium bubblewrap)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
