"""The benchmark sweep on its executors: the local one (in this process) and Ray.

Known answers: a sweep's run equals the same `unlearn_run` made alone (the oracle task does not
change a figure); Ray gives the local sweep's figures and stores the same workspace entries; a
failing task is listed under ``failed`` while the others finish; without Ray the CLI says so in
one line.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from unlearn_core.bench.executors import LocalExecutor
from unlearn_core.bench.sweep import bench, split_methods, summarize, to_markdown
from unlearn_core.bench.tasks import BenchTask, TaskResult
from unlearn_core.cli import main
from unlearn_core.methods import get_method
from unlearn_core.models.defaults import train_model
from unlearn_core.recipes import recipe_for
from unlearn_core.runs.one_run import unlearn_run
from unlearn_core.workspace.store import Workspace

pytestmark = pytest.mark.usefixtures("single_thread")

CPU = torch.device("cpu")
METHODS = ["finetune:epochs=1", "layer_attack:epochs=1"]
BROKEN = "rfa:layer_names=no_such_layer"  # valid config, fails at run time: the model has no such layer
BROKEN_ERROR = "ValueError: model has no layer 'no_such_layer'"


@pytest.fixture(scope="module")
def tiny_original(digits):
    """A deliberately small model (width 8, 2 epochs): its oracles retrain in seconds."""
    config = recipe_for("digits", "small_cnn", seed=0, epochs=2)
    model, meta, _ = train_model(digits, "small_cnn", config, device=CPU, arch_options={"width": 8})
    return model, meta


@pytest.fixture(scope="module")
def local_sweep(digits, tiny_original, tmp_path_factory):
    """Two methods, two seeds, run here; returns (table, workspace root)."""
    root = tmp_path_factory.mktemp("local-ws")
    table = bench(digits, "class:3", METHODS, seeds=2, device=CPU, workspace_root=str(root), original=tiny_original)
    return table, root


def _figures(run: dict) -> tuple:
    return (run["method"], run["seed"], run["unlearned"], run["retrain"], round(run["avg_gap"], 9))


def test_a_sweep_run_equals_the_same_run_made_alone(digits, tiny_original, local_sweep):
    table, _ = local_sweep
    assert [(r["method"], r["seed"]) for r in table["runs"]] == [
        ("finetune:epochs=1", 0), ("layer_attack:epochs=1", 0), ("finetune:epochs=1", 1), ("layer_attack:epochs=1", 1)
    ]
    info = get_method("finetune")
    alone = unlearn_run(digits, *tiny_original, "class:3", "finetune", info.config_cls(epochs=1), seed=1,
                        device=CPU).summary  # no workspace: retrains its own oracle
    swept = table["runs"][2]
    assert swept["unlearned"] == alone["unlearned"]
    assert swept["retrain"] == alone["retrain"]
    assert swept["avg_gap"] == pytest.approx(alone["avg_gap"], abs=1e-9)
    assert table["failed"] == [] and table["executor"] == "local"
    assert all(r["peak_rss_mb"] > 100 and r["cuda_max_allocated_mb"] is None for r in table["runs"])


def test_the_sweep_stores_one_oracle_per_seed_and_every_run(local_sweep):
    _, root = local_sweep
    ws = Workspace(root)
    assert sorted(e.name for e in ws.list("run")) == sorted(
        f"{m.split(':')[0]} | class:3 | seed {s}" for m in METHODS for s in (0, 1)
    )
    assert sorted(e.name for e in ws.list("model")) == ["retrain digits class:3 seed 0", "retrain digits class:3 seed 1"]
    stored = [json.loads(e.file("result.json").read_text()) for e in ws.list("run")]
    assert all(s["retrain_reused"] and s["peak_rss_mb"] > 100 for s in stored)  # the oracle task trained it


def test_a_failing_task_is_reported_and_the_others_finish(digits, tiny_original, capsys):
    from unlearn_core.bench.sweep import report_task

    table = bench(digits, "class:3", [BROKEN, "finetune:epochs=1"], seeds=1, device=CPU, workspace_root=None,
                  original=tiny_original, on_task=report_task)
    assert [f["method"] for f in table["failed"]] == [BROKEN]
    assert table["failed"][0]["seed"] == 0 and table["failed"][0]["error"].startswith(BROKEN_ERROR)
    assert list(table["methods"]) == ["finetune:epochs=1"]
    assert [r["method"] for r in table["runs"]] == ["finetune:epochs=1"]
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[1/3] retrain oracle seed 0: done in ")
    assert err[1].startswith(f"[2/3] {BROKEN} seed 0: FAILED: {BROKEN_ERROR}")
    assert err[2].startswith("[3/3] finetune:epochs=1 seed 0: done in ")
    assert f"\nFailed: {BROKEN} seed 0: {BROKEN_ERROR}" in to_markdown(table)


def test_a_failed_oracle_fails_its_seeds_runs_only(digits, tiny_original, monkeypatch):
    import unlearn_core.bench.tasks as bench_tasks

    real = bench_tasks.get_retrained

    def flaky(model, meta, data, *, seed, **kwargs):
        if seed == 1:
            raise RuntimeError("disk full\nsecond line")
        return real(model, meta, data, seed=seed, **kwargs)

    monkeypatch.setattr(bench_tasks, "get_retrained", flaky)
    table = bench(digits, "class:3", ["finetune:epochs=1"], seeds=2, device=CPU, workspace_root=None,
                  original=tiny_original, executor=LocalExecutor())
    assert table["failed"] == [
        {"method": "retrain", "seed": 1, "error": "RuntimeError: disk full"},
        {"method": "finetune:epochs=1", "seed": 1, "error": "its retrained oracle (seed 1) failed"},
    ]
    assert [(r["method"], r["seed"]) for r in table["runs"]] == [("finetune:epochs=1", 0)]


def _run(label: str, seed: int, gap: float, forget_acc: float, rss: float) -> TaskResult:
    metrics = {"forget_acc": forget_acc, "retain_acc": 1.0, "test_acc": 0.9, "forget_test_acc": None,
               "mia_efficacy": 0.5}
    summary = {"unlearned": metrics, "retrain": {**metrics, "forget_acc": 0.1 * (seed + 1)}, "avg_gap": gap,
               "time_ratio": 0.5, "time_s": 1.0, "peak_rss_mb": rss, "cuda_max_allocated_mb": None,
               "retrain_time_s": 2.0, "run_id": f"r{seed}"}
    return TaskResult(BenchTask(seed, label, label.split(":")[0], None), summary, None, 1.0)


def test_summarize_means_over_successful_seeds_and_lists_failures():
    oracle = TaskResult(BenchTask(0), {"retrain_time_s": 2.0, "retrain_reused": False, "peak_rss_mb": 300.0,
                                       "cuda_max_allocated_mb": None}, None, 2.0)
    results = [
        oracle,
        TaskResult(BenchTask(1), None, "RuntimeError: boom", 0.5),
        _run("a", 0, 1.0, 0.2, 400.0),
        TaskResult(BenchTask(0, "b", "b", None), None, "ValueError: bad", 0.1),
        _run("a", 1, 3.0, 0.4, 600.0),
        _run("b", 1, 5.0, 0.0, 500.0),
    ]
    table = summarize(results)
    a = table["methods"]["a"]
    assert a["avg_gap"] == {"mean": 2.0, "std": 1.0}
    assert a["forget_acc"]["mean"] == pytest.approx(0.3) and a["forget_acc"]["std"] == pytest.approx(0.1)
    assert a["peak_rss_mb"] == {"mean": 500.0, "std": 100.0}
    assert a["forget_test_acc"] == {"mean": None, "std": None}
    assert table["methods"]["b"]["avg_gap"] == {"mean": 5.0, "std": 0.0}
    # the oracle's metrics: from the first finished run of each seed (a's, both seeds)
    assert table["retrain"]["forget_acc"]["mean"] == pytest.approx(0.15)
    assert table["retrain"]["peak_rss_mb"] == {"mean": 300.0, "std": 0.0}
    assert table["failed"] == [{"method": "retrain", "seed": 1, "error": "RuntimeError: boom"},
                               {"method": "b", "seed": 0, "error": "ValueError: bad"}]
    assert [(r["method"], r["seed"]) for r in table["runs"]] == [("a", 0), ("a", 1), ("b", 1)]


def test_markdown_shows_peak_memory_and_a_dash_for_missing_figures():
    table = {"dataset": "digits", "forget": "class:3", "model": "small_cnn", "seeds": 1, "device": "cpu",
             **summarize([_run("a", 0, 1.0, 0.2, 412.4)]), "skipped": []}
    lines = to_markdown(table).splitlines()
    assert lines[2].endswith("| time / retrain | peak RSS MB (/ CUDA) |")
    assert lines[-1] == "| a | 20.0 ± 0.0 | 100.0 ± 0.0 | 90.0 ± 0.0 | – | 50.0 ± 0.0 | 1.00 ± 0.00 | 0.50 | 412 |"
    assert lines[-2].endswith("| 0 | 1.00 | – |")  # the oracle's peak was not measured (no oracle task)


def test_split_methods_keeps_variant_settings_together():
    assert split_methods("del:localizer=random,budget=0.1,finetune, scrub") == [
        "del:localizer=random,budget=0.1", "finetune", "scrub"]
    assert split_methods("concept_poisoning:label_mode=random") == ["concept_poisoning:label_mode=random"]


def test_without_ray_the_cli_says_how_to_install_it_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    status = main(["bench", "--dataset", "digits", "--forget", "class:3", "--executor", "ray"])
    err = capsys.readouterr().err
    assert status == 2
    assert err == ('error: --executor ray needs Ray, which is not installed: pip install "unlearning-studio[ray]" '
                   "(or bash scripts/install.sh --with-ray)\n")


def test_ray_flags_without_the_ray_executor_are_refused(capsys):
    assert main(["bench", "--dataset", "digits", "--forget", "class:3", "--ray-cpus", "2"]) == 2
    assert capsys.readouterr().err == "error: --address and --ray-cpus need --executor ray\n"


@pytest.mark.slow
def test_ray_gives_the_local_figures_stores_the_same_entries_and_reports_failures(
    digits, tiny_original, local_sweep, tmp_path, capsys
):
    pytest.importorskip("ray")
    from unlearn_core.bench.executors import RayExecutor
    from unlearn_core.bench.sweep import report_task

    local, local_root = local_sweep
    table = bench(digits, "class:3", [*METHODS, BROKEN], seeds=2, device=CPU, workspace_root=str(tmp_path),
                  original=tiny_original, executor=RayExecutor(num_cpus=2), on_task=report_task)
    assert table["executor"] == "ray"
    assert [_figures(r) for r in table["runs"]] == [_figures(r) for r in local["runs"]]
    assert list(table["methods"]) == list(local["methods"])
    for name, row in local["methods"].items():
        for key in ("forget_acc", "retain_acc", "test_acc", "mia_efficacy", "avg_gap"):
            assert table["methods"][name][key]["mean"] == pytest.approx(row[key]["mean"], abs=1e-9)
    assert sorted((f["method"], f["seed"]) for f in table["failed"]) == [(BROKEN, 0), (BROKEN, 1)]
    assert all(f["error"].startswith(BROKEN_ERROR) for f in table["failed"])
    # stored exactly as the serial sweep stores them (plus nothing for the failed runs)
    def names(root) -> dict[str, list[str]]:
        return {kind: sorted(e.name for e in Workspace(root).list(kind)) for kind in ("run", "model")}

    assert names(tmp_path) == names(local_root)
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    assert len(progress) == 8 and progress[-1].startswith("[8/8] ")
    assert sum("FAILED: " + BROKEN_ERROR in line for line in progress) == 2
    assert np.isfinite([r["peak_rss_mb"] for r in table["runs"]]).all()
