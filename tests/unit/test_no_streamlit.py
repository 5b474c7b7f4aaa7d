"""The library stays usable without Streamlit: importing every module of it never imports streamlit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# cost: each test starts a fresh interpreter that imports torch, torchvision and scikit-learn (about 11 s)
pytestmark = pytest.mark.slow

SCRIPT = """
import importlib, json, pkgutil, sys
import unlearn_core
names = ["unlearn_core"]
for info in pkgutil.walk_packages(unlearn_core.__path__, "unlearn_core."):
    if info.name == "unlearn_core.__main__":
        continue  # running it would start the CLI
    importlib.import_module(info.name)
    names.append(info.name)
print(json.dumps({"modules": names, "streamlit": sorted(m for m in sys.modules if m.split(".")[0] == "streamlit")}))
"""


def test_importing_every_module_does_not_import_streamlit() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["streamlit"] == []
    modules = set(report["modules"])
    expected = {"unlearn_core.cli", "unlearn_core.store", "unlearn_core.runs", "unlearn_core.embed",
                "unlearn_core.models.checkpoint", "unlearn_core.methods.retrain", "unlearn_core.data.shapes"}
    assert expected <= modules
