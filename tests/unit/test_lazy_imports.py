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


TOUR_PROBE = """
import json, sys, tempfile
from streamlit.testing.v1 import AppTest
at = AppTest.from_file(sys.argv[1], default_timeout=300)
at.session_state["workspace_root"] = tempfile.mkdtemp()
at.run()
print(json.dumps({"titles": [t.value for t in at.title],
                  "heavy": [m for m in ("sklearn", "scipy", "captum", "matplotlib", "umap") if m in sys.modules]}))
"""


def test_the_tour_page_opens_without_scikit_learn_scipy_or_captum() -> None:
    """The first page a teacher opens loads the digits, the model, the method registry and DEL's mask:
    none of them needs scikit-learn, scipy or captum (each import adds up to a second before the tour
    can be clicked; measured by benchmarks/ui_latency.py)."""
    page = os.path.join(os.path.dirname(__file__), "..", "..", "studio_ui", "app_pages", "tour.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UNLEARN_STANDBY_WORKERS": "0"}
    done = subprocess.run([sys.executable, "-c", TOUR_PROBE, page], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["titles"] == [":material/school: Guided tour"]
    assert result["heavy"] == []
