#!/usr/bin/env bash
# Install Unlearning Studio's dependencies with plain pip (torch is pinned; uv/poetry would
# download gigabytes). --with-browser also installs Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--with-browser" ]] && ! command -v chromium >/dev/null 2>&1; then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q chromium
fi
python -m pip install -q -r requirements.txt
