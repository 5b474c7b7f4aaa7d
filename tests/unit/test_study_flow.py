"""The seed study's flow without training: `run_study` on an executor that returns known members,
its stored entry found again by request (the noise floor of a run), what is kept of each member,
and the text summary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearn_core.bench.members import member_figures
from unlearn_core.bench.tasks import TaskResult
from unlearn_core.forget import UnlearnData, resolve
from unlearn_core.methods import get_method
from unlearn_core.metrics import evaluate_model, scaled_confidence
from unlearn_core.models import state_digest
from unlearn_core.study.seed_study import run_study
from unlearn_core.study.text import study_text
from unlearn_core.workspace.fingerprint import data_fingerprint
from unlearn_core.workspace.store import Workspace
from unlearn_core.workspace.studies import (
    find_study,
    load_scores,
    stored_noise_floor,
    studies_for,
    study_key,
)

CPU = torch.device("cpu")


class KnownMembers:
    """An executor that runs nothing: retrained members forget every 3 (forget accuracy 0), unlearned
    ones keep them (1.0); scores are the seed plus the example's position."""

    name = "known"

    def __init__(self) -> None:
        self.jobs = []
        self.tasks = []

    def run(self, tasks, job, on_done):
        self.jobs.append(job)
        self.tasks = list(tasks)
        n = len(resolve(job.forget_spec, job.data, job.forget_seed).forget_idx)
        out = []
        for task in tasks:
            forget_acc = 0.0 if task.is_oracle else 1.0
            values = {"forget_acc": forget_acc, "retain_acc": 1.0, "test_acc": 0.98 + 0.001 * task.seed,
                      "forget_test_acc": forget_acc, "mia_efficacy": 1.0 - forget_acc, "mia_attack_acc": 0.6}
            scores = [float(task.seed + i + (0.0 if task.is_oracle else 100.0)) for i in range(n)]
            reused = "retrain_reused" if task.is_oracle else "reused"
            summary = {"member": {"values": values, "forget_scores": scores},
                       "run_id": None if task.is_oracle else f"run{task.seed}", reused: task.seed == 0}
            if not task.is_oracle:
                summary["retrain_reused"] = True  # the run found its oracle cached: the run itself is new
            result = TaskResult(task, summary, None, 0.1)
            on_done(result)
            out.append(result)
        return out


@pytest.fixture
def study(shipped_digits, digits, tmp_path):
    executor = KnownMembers()
    calls = []
    result, entry = run_study(digits, "class:3", "finetune", k=4, device=CPU, workspace_root=str(tmp_path),
                              executor=executor, original=shipped_digits,
                              on_task=lambda r, done, total: calls.append((done, total)))
    return result, entry, executor, calls, tmp_path


def test_run_study_plans_judges_and_stores(study, shipped_digits, digits) -> None:
    result, entry, executor, calls, root = study
    (job,) = executor.jobs
    assert job.forget_seed == 0 and job.members and job.forget_spec == "class:3"
    assert calls == [(i, 8) for i in range(1, 9)]
    assert result["verdict"]["forget_acc"] == "outside" and result["verdict"]["retain_acc"] == "within"
    assert result["forgetting_quality"] == 0.0  # unlearned scores sit 100 above: every example separable
    assert result["k"] == 4 and result["executor"] == "known" and not result["reused"]
    assert result["method"] == "finetune" and result["model"] == "small_cnn"
    assert result["config"] == get_method("finetune").config_cls().to_dict()
    assert result["model_digest"] == state_digest(shipped_digits[0])
    assert result["data_fingerprint"] == data_fingerprint(digits)
    assert result["members_reused"] == 2 and result["run_ids"] == ["run0", "run1", "run2", "run3"]
    assert result["study_id"] == entry.id and result["time_s"] >= 0
    scores = load_scores(entry)
    forget_idx = resolve("class:3", digits, 0).forget_idx
    assert scores["forget_idx"].tolist() == forget_idx.tolist()
    assert scores["retrain"][2, 5] == 2 + 5 and scores["unlearned"][1, 0] == 101.0
    assert [e["index"] for e in result["per_example"]] == forget_idx.tolist()


def test_a_stored_study_is_returned_again_and_found_by_its_request(study, shipped_digits, digits) -> None:
    result, entry, _, _, root = study
    again, same = run_study(digits, "class:3", "finetune", k=4, device=CPU, workspace_root=str(root),
                            executor=KnownMembers(), original=shipped_digits)
    assert again["reused"] and same.id == entry.id and again["verdict"] == result["verdict"]
    workspace = Workspace(root)
    request = {k: result[k] for k in ("dataset", "data_fingerprint", "model_digest", "forget", "seed")}
    key = study_key(request, "finetune", result["config"], 4)
    assert find_study(workspace, key).id == entry.id
    assert find_study(workspace, study_key(request, "finetune", result["config"], 8)) is None
    assert [e.id for e in studies_for(workspace, request)] == [entry.id]
    floor = stored_noise_floor(workspace, {**request, "method": "del"})  # any method of the request
    assert floor == {**result["noise_floor"], "k": 4, "study_id": entry.id}
    for field, other in (("seed", 1), ("forget", "class:4"), ("model_digest", "x"), ("data_fingerprint", "y")):
        assert stored_noise_floor(workspace, {**request, field: other}) is None
    assert stored_noise_floor(workspace, {**request, "dataset": "shapes"}) is None


def test_run_study_refuses_before_any_work(shipped_digits, digits, tmp_path) -> None:
    executor = KnownMembers()
    with pytest.raises(ValueError, match=r"UNSIR \(noise, impair, repair\) supports class forgetting, not samples \(random:0.1\)"):
        run_study(digits, "random:0.1", "unsir", k=4, device=CPU, workspace_root=str(tmp_path), executor=executor,
                  original=shipped_digits)
    with pytest.raises(ValueError, match="--seeds must be"):
        run_study(digits, "class:3", "finetune", k=3, device=CPU, workspace_root=str(tmp_path), executor=executor,
                  original=shipped_digits)
    assert executor.jobs == []


def test_member_figures_keep_the_headline_the_attack_and_the_scaled_confidences(shipped_digits, digits) -> None:
    model, _ = shipped_digits
    data = UnlearnData(digits, resolve("class:3", digits, 0))
    evaluation = evaluate_model(model, data, device=CPU, seed=0)
    member = member_figures(evaluation, data)
    assert member["values"] == {**evaluation.headline(), "mia_attack_acc": evaluation.mia_attack_acc}
    expected = scaled_confidence(evaluation.forget_logits, digits.train.y[data.forget.forget_idx])
    assert np.allclose(member["forget_scores"], expected) and len(expected) == data.forget.n_forget


def test_study_text_lists_each_verdict_the_floor_and_f(study) -> None:
    result = study[0]
    text = study_text(result)
    lines = text.splitlines()
    assert lines[0] == "finetune forgetting class:3 on digits, K = 4 seeds per side"
    assert "Forget accuracy" in lines[1] and lines[1].endswith("outside")
    assert "retrain     0.0 ± 0.0" in lines[1] and "unlearned   100.0 ± 0.0" in lines[1]
    assert f"retraining vs retraining: {result['noise_floor']['avg_gap']:.2f} pts" in text
    assert f"forgetting quality F = 0.000 (retraining vs retraining at this K: {result['forgetting_quality_null']:.3f})" in text
    assert lines[-1].startswith("  verdict: outside retraining's spread")
    assert study_text({**result, "reused": True}).splitlines()[0].endswith("(stored study)")


def test_a_run_or_study_of_older_auto_defaults_is_not_reused(study, shipped_digits, digits, monkeypatch) -> None:
    import dataclasses

    from unlearn_core.methods.registry import METHODS

    result, entry, _, _, root = study
    assert result["method_revision"] == 1
    info = get_method("finetune")
    monkeypatch.setitem(METHODS._entries, "finetune", dataclasses.replace(info, defaults_revision=2))
    again, other = run_study(digits, "class:3", "finetune", k=4, device=CPU, workspace_root=str(root),
                             executor=KnownMembers(), original=shipped_digits)
    assert not again["reused"] and other.id != entry.id and again["method_revision"] == 2


def test_find_run_skips_a_run_of_older_auto_defaults(shipped_digits, tmp_path, monkeypatch) -> None:
    import dataclasses

    from unlearn_core.methods.registry import METHODS
    from unlearn_core.runs.one_run import find_run

    model, meta = shipped_digits
    workspace = Workspace(tmp_path)
    summary = {"method": "finetune", "forget": "class:3", "seed": 0, "dataset": "digits", "model_digest": "d",
               "config": {"epochs": 5}, "method_revision": 1}
    stored = workspace.save_run(summary, model, meta)
    query = dict(dataset="digits", method="finetune", forget="class:3", seed=0, model_digest="d",
                 config={"epochs": 5})
    assert find_run(workspace, **query).id == stored.id
    assert find_run(workspace, **query, train_seed=1) is None
    info = get_method("finetune")
    monkeypatch.setitem(METHODS._entries, "finetune", dataclasses.replace(info, defaults_revision=2))
    assert find_run(workspace, **query) is None


def test_study_key_is_the_request_the_method_its_settings_k_and_revision() -> None:
    request = {"dataset": "digits", "data_fingerprint": "fp", "model_digest": "md", "forget": "class:3", "seed": 2}
    assert study_key(request, "del", {"lr": 0.1, "budget": 0.0}, 8) == \
        'study|digits|fp|md|class:3|2|del|{"budget": 0.0, "lr": 0.1}|8'
    assert study_key(request, "del", {}, 4, revision=2) == "study|digits|fp|md|class:3|2|del@r2|{}|4"


def test_plan_study_runs_the_method_with_its_settings() -> None:
    from unlearn_core.study.seed_study import plan_study

    config = get_method("finetune").config_cls(epochs=1)
    tasks = plan_study("finetune", config, 2)
    assert [(t.seed, t.label, t.method, t.config) for t in tasks[2:]] == [(0, "finetune", "finetune", config),
                                                                          (1, "finetune", "finetune", config)]
    assert [t.seed for t in plan_study("retrain", config, 2)] == [0, 1, 2, 3]


def test_run_study_defaults_settings_seed_and_workspace(shipped_digits, digits, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    executor = KnownMembers()
    config = get_method("finetune").config_cls(epochs=1)
    result, entry = run_study(digits, "random:0.1", "finetune", config, seed=3, device=CPU, executor=executor)
    assert (tmp_path / "workspace" / "registry.sqlite").exists()  # the default workspace folder
    assert result["k"] == 8 and result["seed"] == 3 and result["config"]["epochs"] == 1
    assert [t.config for t in executor.tasks if not t.is_oracle] == [config] * 8  # the settings given, not defaults
    assert [e["index"] for e in result["per_example"]] == resolve("random:0.1", digits, 3).forget_idx.tolist()
    assert result["model_digest"] == state_digest(shipped_digits[0])  # the dataset's shipped model
    again, _ = run_study(digits, "random:0.1", "finetune", config, seed=3, device=CPU, executor=KnownMembers())
    assert again["reused"] and again["study_id"] == entry.id
    with pytest.raises(ValueError, match=r"supports class, concept forgetting, not samples \(random:0.1\)"):
        run_study(digits, "random:0.1", "concept_poisoning", device=CPU, executor=executor)


def test_study_text_leaves_out_what_is_unknown() -> None:
    cell = {"mean": 0.1, "std": 0.05, "values": [0.05, 0.15]}
    result = {"method": "m", "forget": "class:3", "dataset": "digits", "k": 4, "reused": False,
              "verdict": {"forget_acc": "within"}, "retrain": {"forget_acc": cell},
              "unlearned": {"forget_acc": {"mean": None, "std": None, "values": [None]}},
              "noise_floor": {"avg_gap": None}, "gap_to_retrain": {"mean": 1.0},
              "forgetting_quality": float("nan"), "forgetting_quality_null": 0.2, "verdict_overall": "within",
              "time_s": 3.0}
    text = study_text(result)
    assert "retrain    10.0 ± 5.0" in text and "unlearned             –" in text
    assert "average gap" not in text and "forgetting quality" not in text
    assert study_text({**result, "noise_floor": {"avg_gap": 0.5}, "gap_to_retrain": {"mean": None}}).count("gap") == 0
