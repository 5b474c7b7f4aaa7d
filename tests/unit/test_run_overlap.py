"""A run computes its method before it fetches the retrained oracle (issue 23), so two runs started
together overlap: the fast one trains the oracle while the slow one's method is still running, and
the slow one then finds it stored instead of training it again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from unlearn_core.data import load_dataset
from unlearn_core.methods import get_method
from unlearn_core.models.defaults import train_model
from unlearn_core.progress import ProgressEvent
from unlearn_core.recipes import recipe_for
from unlearn_core.runs.one_run import unlearn_run
from unlearn_core.workspace.store import Workspace

CPU = torch.device("cpu")
ORACLE = "retraining oracle"
pytestmark = pytest.mark.usefixtures("single_thread")


class Phases:
    """When each phase of one run (the progress message's first part) was first and last seen."""

    def __init__(self) -> None:
        self.seen: dict[str, list[float]] = {}

    def __call__(self, event: ProgressEvent) -> None:
        now = time.perf_counter()
        self.seen.setdefault(event.message.split(" | ")[0], [now, now])[1] = now

    def order(self) -> list[str]:
        return sorted(self.seen, key=lambda p: self.seen[p][0])


@pytest.fixture(scope="module")
def tiny(single_thread):
    """8x8 digits and a width-4 CNN trained one epoch on them."""
    data = load_dataset("digits", size=8)
    model, meta, _ = train_model(data, "small_cnn", recipe_for("digits", "small_cnn", 0, epochs=1),
                                 device=CPU, arch_options={"width": 4})
    return data, model, meta


def _run(tiny, workspace: Workspace, epochs: int, phases: Phases) -> dict:
    data, model, meta = tiny
    config = get_method("finetune").config_cls(epochs=epochs)
    return unlearn_run(data, model, meta, "class:3", "finetune", config, device=CPU, workspace=workspace,
                       progress=phases).summary


def test_the_method_runs_before_the_oracle_is_fetched(tiny, tmp_path: Path) -> None:
    phases = Phases()
    summary = _run(tiny, Workspace(tmp_path), 1, phases)
    assert phases.order()[:2] == ["Fine-tune", ORACLE], phases.order()
    assert summary["retrain_reason"] == "no cached oracle" and summary["retrain_time_s"] > 0


def test_a_fast_run_trains_the_oracle_while_a_slow_method_runs(tiny, tmp_path: Path) -> None:
    """The tour's shape: DEL (slow) and RFA (fast) started together; the fast run's oracle training
    starts before the slow run's method ends, and the slow run reuses that oracle."""
    workspace = Workspace(tmp_path)
    slow_phases, fast_phases, out = Phases(), Phases(), {}
    slow = threading.Thread(target=lambda: out.__setitem__("slow", _run(tiny, workspace, 60, slow_phases)))
    slow.start()
    out["fast"] = _run(tiny, workspace, 1, fast_phases)
    slow.join()
    trained_from = fast_phases.seen[ORACLE][0]
    slow_method_until = slow_phases.seen["Fine-tune"][1]
    assert trained_from < slow_method_until, (fast_phases.seen, slow_phases.seen)  # side by side
    assert out["fast"]["retrain_reason"] == "no cached oracle"
    assert out["slow"]["retrain_reused"], out["slow"]["retrain_reason"]  # trained once, not twice
    assert len([e for e in workspace.list("model") if (e.key or "").startswith("retrain|")]) == 1
