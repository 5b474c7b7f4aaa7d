#!/usr/bin/env bash
# Install Unlearning Studio's dependencies with plain pip (torch is pinned; uv/poetry would
# download gigabytes). --with-browser also installs Debian's Chromium for the browser tests;
# --with-ray installs Ray (requirements-ray.txt) for `bench --executor ray`. Flags combine.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_BROWSER=0; WITH_RAY=0
for flag in "$@"; do
    case "$flag" in
        --with-browser) WITH_BROWSER=1 ;;
        --with-ray) WITH_RAY=1 ;;
        *) echo "install.sh: unknown flag $flag (use --with-browser, --with-ray)" >&2; exit 2 ;;
    esac
done
if [[ $WITH_BROWSER == 1 ]] && ! command -v chromium >/dev/null 2>&1; then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q chromium
fi
python -m pip install -q -r requirements.txt
if [[ $WITH_RAY == 1 ]]; then
    python -m pip install -q -r requirements-ray.txt
fi
