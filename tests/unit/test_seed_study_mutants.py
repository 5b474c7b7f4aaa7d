"""Known answers for `study.seed_study` where the mutation run (issue 22) found it unpinned: the
utility factor's ratios and refusals, K's upper bound, the job and the result fields `run_study`
builds (device, workspace, model, executor defaults, timing), and `summarize_study`'s rules, seeds,
failures, per-example rows and dtypes.

Members are hand-written figures and scores, the data a dozen 8x8 images and the original an
untrained width-2 CNN; the executors run nothing. The module runs in about a second."""

from __future__ import annotations

import re
import time
import warnings

import numpy as np
import pytest
import torch

from unlearn_core.bench.tasks import BenchTask, TaskResult
from unlearn_core.data import Split, SplitDataset
from unlearn_core.forget import resolve
from unlearn_core.metrics.epsilon import DELTA, max_scored_epsilon
from unlearn_core.metrics.verdict import ALPHA, MIN_GAP, false_alarm_rate
from unlearn_core.models import ModelMeta, state_digest
from unlearn_core.study import seed_study
from unlearn_core.study.seed_study import _utility, check_k, run_study, summarize_study
from unlearn_core.workspace.store import Workspace

CPU = torch.device("cpu")


def exactly(message: str) -> str:
    return "^" + re.escape(message) + "$"


# -- the utility factor --------------------------------------------------------------------------
def _side(retain: list, test: list) -> list[dict]:
    return [{"retain_acc": r, "test_acc": t} for r, t in zip(retain, test, strict=True)]


def test_utility_is_the_product_of_the_two_accuracy_ratios() -> None:
    """Means: retrained RA 0.8, TA 0.6; unlearned RA 0.6, TA 0.45: (0.6 / 0.8) x (0.45 / 0.6) =
    0.75 x 0.75 (a product RA_U x RA_R would give 0.48 x 0.75)."""
    values = {"retrain": _side([0.7, 0.9], [0.5, 0.7]), "unlearned": _side([0.6, 0.6], [0.4, 0.5])}
    assert _utility(values) == pytest.approx(0.5625)


@pytest.mark.parametrize(("retrain", "unlearned"), [
    (_side([0.0, 0.0], [0.6, 0.6]), _side([0.5, 0.5], [0.5, 0.5])),  # retrained RA 0: no ratio
    (_side([0.8, 0.8], [0.0, 0.0]), _side([0.5, 0.5], [0.5, 0.5])),  # retrained TA 0
    (_side([0.8, 0.8], [0.6, 0.6]), _side([None, None], [0.5, 0.5])),  # unlearned RA unknown
    (_side([0.8, 0.8], [0.6, 0.6]), _side([0.5, 0.5], [None, None])),  # unlearned TA unknown
    (_side([None, None], [0.6, 0.6]), _side([0.5, 0.5], [0.5, 0.5])),  # retrained RA unknown
])
def test_utility_is_none_without_both_ratios(retrain, unlearned) -> None:
    assert _utility({"retrain": retrain, "unlearned": unlearned}) is None


# -- K -------------------------------------------------------------------------------------------
def test_k_from_4_to_64_inclusive() -> None:
    assert check_k(4) == 4 and check_k(64) == 64
    for bad in (3, 65, 0, -4):
        with pytest.raises(ValueError, match=exactly(
                f"--seeds must be a whole number from 4 to 64 (8 is the usual study); got {bad!r}")):
            check_k(bad)
    with pytest.raises(ValueError, match=exactly(
            "--seeds must be a whole number from 4 to 64 (8 is the usual study); got 8.0")):
        check_k(8.0)


# -- run_study's job and result ------------------------------------------------------------------
META = ModelMeta(arch="small_cnn", num_classes=3, input_shape=(1, 8, 8), dataset="tiny",
                 class_names=["a", "b", "c"], arch_options={"width": 2})


def _data() -> SplitDataset:
    g = torch.Generator().manual_seed(0)
    return SplitDataset("tiny", Split(torch.rand(12, 1, 8, 8, generator=g), torch.arange(12) % 3),
                        Split(torch.rand(6, 1, 8, 8, generator=g), torch.arange(6) % 3), ["a", "b", "c"])


def _original():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return META.build("cpu").eval(), META


class Members:
    """An executor that runs nothing: every member's figures are fixed, scores are the seed plus
    the example's position (unlearned ones 10 higher)."""

    def __init__(self, name: str = "members", progress=None) -> None:
        self.name, self.progress, self.jobs = name, progress, []

    def run(self, tasks, job, on_done):
        self.jobs.append(job)
        n = len(resolve(job.forget_spec, job.data, job.forget_seed).forget_idx)
        out = []
        for task in tasks:
            values = {"forget_acc": 0.0 if task.is_oracle else 0.5, "retain_acc": 1.0, "test_acc": 0.9,
                      "forget_test_acc": 0.0, "mia_efficacy": 1.0, "mia_attack_acc": 0.7}
            scores = [float(task.seed + i + (0 if task.is_oracle else 10)) for i in range(n)]
            result = TaskResult(task, {"member": {"values": values, "forget_scores": scores}, "run_id": None}, None, 0.0)
            on_done(result)
            out.append(result)
        return out


def test_run_study_hands_the_job_its_model_device_and_workspace_and_records_them(tmp_path) -> None:
    model, meta = _original()
    executor, reports = Members(), []
    before = time.perf_counter()
    result, entry = run_study(_data(), "class:1", "finetune", k=4, seed=2, device=CPU, workspace_root=tmp_path,
                              executor=executor, original=(model, meta),
                              on_task=lambda r, done, total: reports.append((r, done, total)))
    elapsed = time.perf_counter() - before
    (job,) = executor.jobs
    assert job.model is model and job.meta is meta and job.device == CPU
    assert job.workspace_root == str(tmp_path) and isinstance(job.workspace_root, str)
    assert job.forget_seed == 2 and job.members is True
    assert [(done, total) for _, done, total in reports] == [(i, 8) for i in range(1, 9)]
    assert all(isinstance(r, TaskResult) for r, _, _ in reports)
    assert [(r.task.seed, r.task.is_oracle) for r, _, _ in reports] == [(s, True) for s in range(4)] + [
        (s, False) for s in range(4)]
    assert result["device"] == "cpu" and result["reused"] is False and result["executor"] == "members"
    assert 0.0 <= result["time_s"] <= elapsed  # measured within the call
    assert result["model_digest"] == state_digest(model) and result["seed"] == 2
    assert result["study_id"] == entry.id and entry.info["device"] == "cpu" and entry.info["reused"] is False


def test_run_study_without_an_original_obtains_the_model_in_the_workspace(tmp_path, monkeypatch) -> None:
    model, meta = _original()
    calls = []

    def obtain(data, arch, **kwargs):
        calls.append((data, arch, kwargs))
        return model, meta

    monkeypatch.setattr(seed_study, "obtain_model", obtain)
    data = _data()
    result, _ = run_study(data, "class:1", "finetune", k=4, device=CPU, workspace_root=str(tmp_path),
                          executor=Members(), model_arch="resnet18")
    ((got_data, arch, kwargs),) = calls
    assert got_data is data and arch == "resnet18" and kwargs["device"] == CPU
    assert isinstance(kwargs["workspace"], Workspace) and kwargs["workspace"].root == tmp_path.resolve()
    assert set(kwargs) == {"device", "workspace"}
    assert result["model"] == "small_cnn"


def test_run_study_defaults_to_this_process_with_the_progress_given(tmp_path, monkeypatch) -> None:
    made = []

    def local(progress):
        made.append(Members("local", progress))
        return made[-1]

    monkeypatch.setattr(seed_study, "LocalExecutor", local)

    def progress(*_args, **_kwargs) -> None:
        pass

    result, _ = run_study(_data(), "class:1", "finetune", k=4, device=CPU, workspace_root=str(tmp_path),
                          original=_original(), progress=progress)
    assert len(made) == 1 and made[0].progress is progress and len(made[0].jobs) == 1
    assert result["executor"] == "local"


# -- summarize_study -----------------------------------------------------------------------------
def _member(forget_acc, scores) -> dict:
    return {"values": {"forget_acc": forget_acc, "retain_acc": 1.0, "test_acc": 0.9, "forget_test_acc": 0.0,
                       "mia_efficacy": 1.0, "mia_attack_acc": 0.7}, "forget_scores": scores}


def _ok(seed: int, oracle: bool, member: dict, run_id: str | None = None) -> TaskResult:
    task = BenchTask(seed) if oracle else BenchTask(seed, "m", "m")
    return TaskResult(task, {"member": member, "run_id": run_id}, None, 0.0)


def _failed(seed: int, oracle: bool, error: str) -> TaskResult:
    return TaskResult(BenchTask(seed) if oracle else BenchTask(seed, "m", "m"), None, error, 0.0)


def test_summarize_study_with_two_members_a_side_and_its_rules() -> None:
    """Two members each side (the least a study takes), one retrained member failed. Scores are
    integers (stored as float64), forget_idx int32 (stored as int64). Medians per example:
    retrained (0, 2) -> 1 and (1, 3) -> 2; unlearned (5, 9) -> 7 and (6, 10) -> 8."""
    results = [_ok(0, True, _member(0.0, [0, 1])), _failed(1, True, "OSError: disk"), _ok(2, True, _member(0.0, [2, 3])),
               _ok(3, False, _member(0.5, [5, 6]), "r3"), _ok(4, False, _member(0.5, [9, 10]), "r4")]
    result, scores = summarize_study(results, np.array([7, 11], dtype=np.int32))
    assert result["member_seeds"] == {"retrain": [0, 2], "unlearned": [3, 4]}
    assert result["failed"] == [{"member": "retrain", "seed": 1, "error": "OSError: disk"}]
    assert result["run_ids"] == ["r3", "r4"]
    assert result["verdict_rule"] == {
        "test": "two-sided permutation test of the difference of means (exact below 20,000 splits)",
        "alpha": ALPHA, "min_gap": MIN_GAP, "false_alarm_rate": false_alarm_rate(2),
        "no_signal": "MIA-efficacy's SVC attack within 5 points of 50% on the retrained models",
    }
    assert result["forgetting_quality_rule"] == {"delta": DELTA, "bucket": 0.5, "max_scored_epsilon": max_scored_epsilon(2)}
    assert [{k: e[k] for k in ("index", "unlearned_median", "retrain_median")} for e in result["per_example"]] == [
        {"index": 7, "unlearned_median": 7.0, "retrain_median": 1.0},
        {"index": 11, "unlearned_median": 8.0, "retrain_median": 2.0}]
    assert all(set(e) == {"index", "epsilon", "unlearned_median", "retrain_median"} for e in result["per_example"])
    assert scores["retrain"].dtype == np.float64 and scores["unlearned"].dtype == np.float64
    assert scores["retrain"].tolist() == [[0.0, 1.0], [2.0, 3.0]]
    assert scores["forget_idx"].dtype == np.int64 and scores["forget_idx"].tolist() == [7, 11]


def test_summarize_study_refuses_forget_indices_that_do_not_match_the_scores() -> None:
    results = [_ok(s, oracle, _member(0.0, [0.0, 1.0])) for oracle in (True, False) for s in range(2)]
    with pytest.raises(ValueError):
        summarize_study(results, np.array([1, 2, 3]))


def test_too_few_members_names_the_first_three_failures() -> None:
    results = [_ok(0, True, _member(0.0, [0.0])), _ok(1, True, _member(0.0, [1.0])), _ok(0, False, _member(0.5, [2.0]))]
    results += [_failed(s, False, f"E{s}") for s in (1, 2, 3)] + [_failed(4, True, "E4")]
    with pytest.raises(ValueError, match=exactly(
            "the study needs at least two retrained and two unlearned members; 4 failed "
            "(unlearned seed 1: E1; unlearned seed 2: E2; unlearned seed 3: E3)")):
        summarize_study(results, np.array([0]))
    one_retrained = [_ok(0, True, _member(0.0, [0.0])), _ok(0, False, _member(0.5, [2.0])),
                     _ok(1, False, _member(0.5, [2.0])), _failed(1, True, "E")]
    with pytest.raises(ValueError, match=re.escape("1 failed (retrain seed 1: E)")):
        summarize_study(one_retrained, np.array([0]))


def test_a_member_without_any_gap_has_none_and_no_warning() -> None:
    """An unlearned member whose figures are all unknown has no gap to any retrained member: None
    in ``gap_to_retrain``, computed without numpy's empty-mean warning."""
    unknown = {"values": {k: None for k in ("forget_acc", "retain_acc", "test_acc", "forget_test_acc", "mia_efficacy")},
               "forget_scores": [4.0]}
    results = [_ok(s, True, _member(0.0, [float(s)])) for s in range(2)]
    results += [_ok(0, False, _member(0.5, [3.0])), _ok(1, False, unknown)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result, _ = summarize_study(results, np.array([0]))
    assert result["gap_to_retrain"]["values"] == [pytest.approx(100 * 0.5 / 4), None]
