"""The command line imports only what a command needs (issue 23): listing the datasets or asking
for help must not import torchvision's model zoo, scikit-learn or scipy (seconds of a fresh
process), while the datasets are still all registered.

Each check runs the CLI's `main` in a fresh interpreter and prints which of those modules ended up
in `sys.modules`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("torchvision.models", "sklearn", "scipy")
PROBE = f"HEAVY = {HEAVY!r}\n" + """
import contextlib, io, json, sys
from unlearn_core.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    status = main(sys.argv[1:])
print(json.dumps({"status": status, "stdout": out.getvalue(),
                  "heavy": [m for m in HEAVY if m in sys.modules]}))
"""


def _probe(*args: str) -> dict:
    """Run the CLI with `args` in a fresh interpreter: its status, stdout and the heavy modules it imported."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("args", [("datasets", "--json"), ("--help",)], ids=["datasets --json", "--help"])
def test_light_commands_import_no_model_zoo_sklearn_or_scipy(args: tuple[str, ...]) -> None:
    result = _probe(*args)
    assert result["status"] == 0
    assert result["heavy"] == []


def test_datasets_are_all_registered_without_the_heavy_imports() -> None:
    listed = json.loads(_probe("datasets", "--json")["stdout"])["datasets"]
    names = {d["name"] for d in listed}
    assert {"digits", "shapes", "imagefolder"} <= names
    assert next(d for d in listed if d["name"] == "digits")["options"] == {"size": 16, "seed": 0}
