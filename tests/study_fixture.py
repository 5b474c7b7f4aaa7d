"""A workspace with two cheap real runs on digits `class:3` (fine-tune, 1 and 2 epochs, from the
shipped model) and a seed study of the first one built from synthetic member values: the app's
study views are tested on the page, not on the training (a real study takes minutes here).

The synthetic study goes through the library's own `summarize_study` and `save_study`, so its
fields, verdicts, F and per-example ε are computed exactly as a real study's would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from unlearn_core.bench.tasks import BenchTask, TaskResult
from unlearn_core.data import SplitDataset, load_dataset
from unlearn_core.forget import resolve
from unlearn_core.methods import MethodConfig, get_method
from unlearn_core.models.defaults import load_default
from unlearn_core.runs.one_run import unlearn_run
from unlearn_core.study.seed_study import summarize_study
from unlearn_core.workspace.store import Entry, Workspace
from unlearn_core.workspace.studies import REQUEST_FIELDS, save_study, study_key

K = 4
SPEC = "class:3"
METHOD = "finetune"


@dataclass(frozen=True)
class StudyWorkspace:
    """The workspace folder, the run with a stored study, the run without one, and the study's id."""

    root: Path
    studied_run: str
    plain_run: str
    study_id: str
    n_forget: int


def _member(values: dict[str, float], scores: np.ndarray) -> dict:
    return {"member": {"values": {**values, "mia_attack_acc": 0.7}, "forget_scores": scores.tolist()}}


def build(root: Path) -> StudyWorkspace:
    """Two fine-tune runs (about 10 s on an idle 2-core CPU with the retrained model) and a K = 4
    synthetic study of the first: retain accuracy and MIA-efficacy inside retraining's spread,
    forget accuracy outside it; half the forget examples separable, half indistinguishable."""
    cpu = torch.device("cpu")
    workspace = Workspace(root)
    data = load_dataset("digits")
    model, meta = load_default("digits", device=cpu)
    info = get_method(METHOD)
    studied = unlearn_run(data, model, meta, SPEC, METHOD, info.config_cls(epochs=1), seed=0, device=cpu,
                          workspace=workspace)
    plain = unlearn_run(data, model, meta, SPEC, METHOD, info.config_cls(epochs=2), seed=0, device=cpu,
                        workspace=workspace)
    entry = save_synthetic_study(workspace, data, studied.summary, METHOD, info.config_cls(epochs=1))
    return StudyWorkspace(root, studied.entry.id, plain.entry.id, entry.id, len(resolve(SPEC, data, 0).forget_idx))


def save_synthetic_study(workspace: Workspace, data: SplitDataset, summary: dict, method: str,
                         config: MethodConfig) -> Entry:
    """Store a K = 4 study of `summary`'s request (`method` at `config`) from synthetic members:
    retain accuracy and MIA-efficacy inside retraining's spread, forget accuracy outside it; half
    the forget examples separable, half indistinguishable."""
    forget = resolve(summary["forget"], data, summary["seed"])
    n = len(forget.forget_idx)
    rng = np.random.default_rng(0)
    results = []
    for seed in range(K):
        values = {"forget_acc": 0.0, "retain_acc": 0.99 + 0.002 * seed, "test_acc": 0.97 + 0.004 * seed,
                  "forget_test_acc": 0.0, "mia_efficacy": 0.90 + 0.02 * seed}
        results.append(TaskResult(BenchTask(seed), _member(values, rng.normal(-8.0, 1.0, n)), None, 1.0))
    for seed in range(K):
        values = {"forget_acc": 0.20 + 0.01 * seed, "retain_acc": 0.992 + 0.001 * seed, "test_acc": 0.975,
                  "forget_test_acc": 0.15, "mia_efficacy": 0.91 + 0.02 * seed}
        scores = rng.normal(-8.0, 1.0, n)
        scores[: n // 2] += 20.0  # the first half of the forget examples is far from retraining
        results.append(TaskResult(BenchTask(seed, method, method, config), _member(values, scores), None, 1.0))
    result, stored_scores = summarize_study(results, forget.forget_idx)
    request = {f: summary[f] for f in REQUEST_FIELDS}
    result.update(request)
    revision = get_method(method).defaults_revision
    result.update(method=method, method_revision=revision, model=summary["model"], config=summary["config"], k=K,
                  device="cpu", executor="local", time_s=12.0, reused=False)
    return save_study(workspace, result, stored_scores, study_key(request, method, config.to_dict(), K, revision))


def tour_run(root: Path) -> str:
    """The guided tour's DEL run (default settings, seed 0) stored in the workspace at `root`: the
    tour finds it and shows its verdict (about 20 s on an idle 2-core CPU)."""
    cpu = torch.device("cpu")
    data = load_dataset("digits")
    model, meta = load_default("digits", device=cpu)
    record = unlearn_run(data, model, meta, SPEC, "del", get_method("del").config_cls(), seed=0, device=cpu,
                         workspace=Workspace(root))
    return record.entry.id


def cancel_active_runs(workspace: Workspace, wait_s: float = 0.0) -> None:
    """Stop a test's leftover runs (`records.cancel_active`), waiting up to `wait_s` for them to end."""
    import unlearn_core.runs.records as run_records

    run_records.cancel_active(workspace, wait_s, poll_s=1.0)
