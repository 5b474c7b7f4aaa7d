"""The library's layers import downwards only: evaluation and localization never load the methods,
and importing one method module does not import the thirteen others."""

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


def _modules_after(imports: str) -> set[str]:
    """The unlearn_core modules a fresh interpreter holds after running `imports`."""
    script = f"{imports}\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('unlearn_core'))))"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_metrics_and_localization_do_not_import_the_methods() -> None:
    loaded = _modules_after("import unlearn_core.metrics, unlearn_core.localize, unlearn_core.forget")
    assert "unlearn_core.forget" in loaded
    assert not {m for m in loaded if m.startswith("unlearn_core.methods")}


def test_importing_one_method_module_imports_no_other_method() -> None:
    methods = {m for m in _modules_after("import unlearn_core.methods.finetune")
               if m.startswith("unlearn_core.methods.")}
    # the method, the base classes, the registry and the shared training helpers: no other method
    assert methods == {"unlearn_core.methods.finetune", "unlearn_core.methods.base", "unlearn_core.methods.registry",
                       "unlearn_core.methods.common"}


def test_the_registry_still_finds_every_built_in_method_on_first_use() -> None:
    loaded = _modules_after("from unlearn_core.methods import list_methods\nlist_methods()")
    assert {"unlearn_core.methods.deletion", "unlearn_core.methods.unsir", "unlearn_core.methods.retrain"} <= loaded
