#!/usr/bin/env bash
# Install Unlearning Studio from this checkout with plain pip, at the tested versions of
# constraints.txt (torch is the plain-pip build; uv/poetry would download gigabytes). The package
# is installed editable with its app, test and dev extras, so `unlearn`, `unlearning-studio`,
# `streamlit run app.py` and the worker processes all import this checkout.
# --with-browser also installs Debian's Chromium for the browser tests; --with-ray installs Ray
# for `--executor ray`. Flags combine.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_BROWSER=0; EXTRAS="app,test,dev"
for flag in "$@"; do
    case "$flag" in
        --with-browser) WITH_BROWSER=1 ;;
        --with-ray) EXTRAS="$EXTRAS,ray" ;;
        *) echo "install.sh: unknown flag $flag (use --with-browser, --with-ray)" >&2; exit 2 ;;
    esac
done
if [[ $WITH_BROWSER == 1 ]] && ! command -v chromium >/dev/null 2>&1; then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q chromium
fi
python -m pip install -q -c constraints.txt -e ".[$EXTRAS]"
# umap-learn compiles its code on first use (tens of seconds on two cores): compile it now; numba keeps
# it beside the installed package, so the app's first UMAP loads it (unlearn_core.embed.compile_umap)
python -c "from unlearn_core.embed import compile_umap; print(f'compiled UMAP in {compile_umap():.0f} s')"
