"""Durable runs (issue 9): run records, worker processes, cancel, interruption, and cached models
that are keyed by the data's content and computed once under concurrency.

Everything runs on a tiny setting: digits at 8x8, a width-4 CNN trained for one epoch, so that
its recipe (which the retrained oracle reuses) is one epoch too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import unlearn_core.runs.records as run_records
from unlearn_core.data import get_dataset_info, load_dataset
from unlearn_core.forget import resolve
from unlearn_core.models import save_checkpoint
from unlearn_core.models.defaults import train_model
from unlearn_core.recipes import recipe_for
from unlearn_core.runs.one_run import retrain_key, unlearn_run
from unlearn_core.runs.start_model import obtain_model
from unlearn_core.runs.worker import RunRequest, start_run
from unlearn_core.workspace.fingerprint import data_fingerprint
from unlearn_core.workspace.store import MODEL_FILE, Workspace

REPO = Path(__file__).resolve().parents[2]
CPU = torch.device("cpu")
DIGITS8 = {"size": 8}
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory, single_thread):
    """(dataset, model, meta, checkpoint path) of a width-4 CNN trained one epoch on 8x8 digits."""
    data = load_dataset("digits", **DIGITS8)
    model, meta, _ = train_model(data, "small_cnn", recipe_for("digits", "small_cnn", 0, epochs=1),
                                 device=CPU, arch_options={"width": 4})
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(model, path, meta)
    return data, model, meta, path


def _oracles(ws: Workspace) -> list:
    return [e for e in ws.list("model") if (e.key or "").startswith("retrain|")]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "UNLEARN_WORKER_THREADS": "1",
            "PYTHONPATH": str(REPO)}


def _wait(ws: Workspace, run_id: str, until, timeout: float = 240) -> run_records.RunRow:
    deadline = time.time() + timeout
    while time.time() < deadline:
        row = run_records.get(ws, run_id)
        if until(row):
            return row
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} never reached the expected state: {run_records.get(ws, run_id)}")


def _in_method(row: run_records.RunRow) -> bool:
    """The run is past loading and the oracle, inside the method's own loop."""
    return row.status == "running" and row.phase.startswith("Fine-tun")


# -- cache keys ------------------------------------------------------------------------------
def test_oracle_key_depends_on_forget_set_seed_recipe_and_content(tiny) -> None:
    data, _, meta, _ = tiny
    threes = resolve("class:3", data).forget_idx
    fp = data_fingerprint(data)
    base = retrain_key(meta, threes, 0, fp)
    assert retrain_key(meta, threes.copy(), 0, fp) == base  # same request, same key
    other_recipe = type(meta)(**{**meta.__dict__, "recipe": {**meta.recipe, "epochs": 2}})
    variants = {
        "forget set": retrain_key(meta, resolve("class:4", data).forget_idx, 0, fp),
        "seed": retrain_key(meta, threes, 1, fp),
        "recipe": retrain_key(other_recipe, threes, 0, fp),
        "content": retrain_key(meta, threes, 0, "0" * 16),
    }
    assert {name: key == base for name, key in variants.items()} == dict.fromkeys(variants, False)


def test_fingerprint_follows_content_not_name(tiny) -> None:
    data = tiny[0]
    import dataclasses

    swapped = dataclasses.replace(data, train=dataclasses.replace(data.train, y=data.train.y.roll(1)))
    assert data_fingerprint(data) == data_fingerprint(load_dataset("digits", **DIGITS8))
    assert data_fingerprint(swapped) != data_fingerprint(data)
    assert data_fingerprint(load_dataset("digits", size=9)) != data_fingerprint(data)


def test_same_request_twice_reuses_the_oracle_with_a_reason(tmp_path: Path, tiny) -> None:
    data, model, meta, _ = tiny
    ws = Workspace(tmp_path)
    first = unlearn_run(data, model, meta, "class:3", "retrain", seed=0, device=CPU, workspace=ws).summary
    second = unlearn_run(data, model, meta, "class:3", "retrain", seed=0, device=CPU, workspace=ws).summary
    assert (first["retrain_reused"], first["retrain_reason"]) == (False, "no cached oracle")
    assert second["retrain_reused"] is True and second["retrain_reason"].startswith("reused the cached oracle")
    assert len(_oracles(ws)) == 1
    assert first["retrain_device"] == "cpu" and first["retrain_measured_at"].endswith("Z")
    assert second["retrain_measured_at"] == first["retrain_measured_at"]  # when the reused time was measured


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_damaged_cached_oracle_is_marked_broken_and_recomputed(tmp_path: Path, tiny, damage: str) -> None:
    data, model, meta, _ = tiny
    ws = Workspace(tmp_path)
    unlearn_run(data, model, meta, "class:3", "retrain", seed=0, device=CPU, workspace=ws)
    (cached,) = _oracles(ws)
    file = cached.file(MODEL_FILE)
    if damage == "delete":
        file.unlink()
    else:
        file.write_bytes(file.read_bytes()[:100])
    again = unlearn_run(data, model, meta, "class:3", "retrain", seed=0, device=CPU, workspace=ws).summary
    assert (again["retrain_reused"], again["retrain_reason"]) == (False, "cached oracle files unreadable")
    assert [e.id for e in _oracles(ws)] != [cached.id] and len(_oracles(ws)) == 1
    third = unlearn_run(data, model, meta, "class:3", "retrain", seed=0, device=CPU, workspace=ws).summary
    assert third["retrain_reused"] is True


# -- validation before the expensive step ------------------------------------------------------
def test_unsupported_forget_kind_is_refused_before_any_training(tmp_path: Path, tiny) -> None:
    data, model, meta, _ = tiny
    ws = Workspace(tmp_path)
    with pytest.raises(ValueError, match="supports class forgetting, not samples"):
        unlearn_run(data, model, meta, "random:0.1", "unsir", seed=0, device=CPU, workspace=ws)
    assert ws.list("model") == [] and ws.list("run") == []


def test_nan_weights_are_refused_before_any_training(tmp_path: Path, tiny) -> None:
    data, model, meta, _ = tiny
    import copy

    nan_model = copy.deepcopy(model)  # never mutate the shared fixture
    with torch.no_grad():
        next(nan_model.parameters()).view(-1)[0] = float("nan")
    ws = Workspace(tmp_path)
    with pytest.raises(ValueError, match="NaN or infinity"):
        unlearn_run(data, nan_model, meta, "class:3", "finetune", seed=0, device=CPU, workspace=ws)
    assert ws.list("model") == []


# -- changed data is never served a stale model ------------------------------------------------
def _write_folder(root: Path) -> None:
    """Two classes of tiny PNGs: 'bright' images are light, 'dark' ones dark (with noise)."""
    rng = np.random.default_rng(0)
    for name, level in (("bright", 220), ("dark", 30)):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(level + rng.integers(-20, 20, (8, 8, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")


def test_imagefolder_whose_classes_swap_gets_a_fresh_original_and_oracle(tmp_path: Path) -> None:
    root = tmp_path / "images"
    _write_folder(root)
    build = get_dataset_info("imagefolder").builder  # not the per-process dataset cache: read the disk
    ws = Workspace(tmp_path / "ws")
    before = build(root=str(root), size=8)
    model, meta = obtain_model(before, "small_cnn", device=CPU, workspace=ws)
    again, _ = obtain_model(build(root=str(root), size=8), "small_cnn", device=CPU, workspace=ws)
    assert len(ws.list("model")) == 1  # the same content reuses the trained original
    first = unlearn_run(before, model, meta, "class:0", "retrain", seed=0, device=CPU, workspace=ws).summary
    (root / "bright").rename(root / "tmp")
    (root / "dark").rename(root / "bright")
    (root / "tmp").rename(root / "dark")
    after = build(root=str(root), size=8)
    assert after.options == before.options and data_fingerprint(after) != data_fingerprint(before)
    model2, meta2 = obtain_model(after, "small_cnn", device=CPU, workspace=ws)
    originals = [e for e in ws.list("model") if e.key.startswith("original|")]
    assert len(originals) == 2  # retrained on the new content, not served the stale one
    s = unlearn_run(after, model2, meta2, "class:0", "retrain", seed=0, device=CPU, workspace=ws).summary
    assert first["retrain_reused"] is False
    assert (s["retrain_reused"], s["retrain_reason"]) == (False, "data changed since the cached oracle")
    assert len(_oracles(ws)) == 2


# -- run records -------------------------------------------------------------------------------
def _request(tiny, **kw) -> RunRequest:
    return RunRequest("digits", kw.pop("forget", "class:3"), kw.pop("method", "finetune"), dict(DIGITS8),
                      checkpoint=str(tiny[3]), config=kw.pop("config", {"epochs": 1}), device="cpu", **kw)


def test_stale_heartbeat_reads_as_interrupted(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    request = {"method": "finetune", "forget": "class:3", "dataset": "digits"}
    run_records.create(ws, "r1", "t", request)
    run_records.mark_running(ws, "r1", pid=os.getpid())  # alive: only the heartbeat can tell
    run_records.update(ws, "r1", progress=0.4, message="epoch 2/5", phase="finetune")
    now = time.time()
    assert run_records.settle(ws, now=now + run_records.STALE_S - 1) == 0
    assert run_records.get(ws, "r1").label == "running"
    assert run_records.settle(ws, now=now + run_records.STALE_S + 1) == 1
    row = run_records.get(ws, "r1")
    assert (row.label, row.progress, row.phase) == ("failed (interrupted)", 0.4, "finetune")
    assert row.ended is not None and row.elapsed(now=now + 1000) == row.elapsed()  # the clock stopped



def test_cancel_active_flags_every_active_run_and_only_those(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    request = {"method": "finetune", "forget": "class:3", "dataset": "digits"}
    for run_id in ("queued", "running", "done"):
        run_records.create(ws, run_id, "t", request)
    run_records.mark_running(ws, "running", pid=os.getpid())
    run_records.finish(ws, "done", "done")
    run_records.cancel_active(ws)  # wait_s 0: flags and returns
    flagged = {r.id: r.cancel_requested for r in run_records.list_runs(ws)}
    assert flagged == {"queued": True, "running": True, "done": False}

def test_housekeeping_removes_only_old_leftovers(tmp_path: Path) -> None:
    import sqlite3

    ws = Workspace(tmp_path)
    with sqlite3.connect(tmp_path / "registry.sqlite") as db:
        db.execute("INSERT INTO entries VALUES ('old', 'run', 'x', 'digits', NULL, ?, 'pending', '{}')",
                   (time.time() - 3600,))
        db.execute("INSERT INTO entries VALUES ('young', 'run', 'x', 'digits', NULL, ?, 'pending', '{}')",
                   (time.time(),))
    old, young = tmp_path / ".tmp" / "old", tmp_path / ".tmp" / "young"
    old.mkdir(parents=True)
    young.mkdir()
    os.utime(old, (time.time() - 3600,) * 2)
    assert ws.housekeeping() == {"pending_rows": 1, "tmp_folders": 1}
    assert not old.exists() and young.exists()
    with sqlite3.connect(tmp_path / "registry.sqlite") as db:
        assert [r[0] for r in db.execute("SELECT id FROM entries")] == ["young"]


@pytest.mark.slow  # cost: starts worker processes (about 9 s each to import torch)
def test_worker_runs_in_its_own_process_and_stores_under_its_id(tmp_path: Path, tiny, monkeypatch) -> None:
    monkeypatch.setenv("UNLEARN_WORKER_THREADS", "1")
    ws = Workspace(tmp_path)
    row = start_run(ws, _request(tiny), "tiny finetune")
    assert row.status == "queued" and row.pid not in (None, os.getpid())
    done = _wait(ws, row.id, lambda r: not r.active)
    assert (done.status, done.progress, done.error) == ("done", 1.0, None)
    assert ws.get(row.id).info["method"] == "finetune"  # the stored run has the record's id
    assert done.ended >= done.started and done.elapsed() == done.ended - done.started


@pytest.mark.slow  # cost: starts worker processes (about 9 s each to import torch)
def test_killed_worker_reads_as_interrupted_and_a_rerun_works(tmp_path: Path, tiny, monkeypatch) -> None:
    monkeypatch.setenv("UNLEARN_WORKER_THREADS", "1")
    ws = Workspace(tmp_path)
    row = start_run(ws, _request(tiny, config={"epochs": 200}), "long finetune")
    running = _wait(ws, row.id, _in_method)
    os.kill(running.pid, signal.SIGKILL)
    killed_at = time.time()
    gone = _wait(ws, row.id, lambda r: not r.active, timeout=3 * run_records.HEARTBEAT_S)
    assert gone.label == "failed (interrupted)" and time.time() - killed_at < 3 * run_records.HEARTBEAT_S
    rerun = start_run(ws, _request(tiny), "rerun")
    assert _wait(ws, rerun.id, lambda r: not r.active).status == "done"


@pytest.mark.slow  # cost: starts worker processes (about 9 s each to import torch)
def test_cancel_from_another_process_stops_the_run(tmp_path: Path, tiny, monkeypatch) -> None:
    monkeypatch.setenv("UNLEARN_WORKER_THREADS", "1")
    ws = Workspace(tmp_path)
    row = start_run(ws, _request(tiny, config={"epochs": 200}), "long finetune")
    _wait(ws, row.id, _in_method)
    out = subprocess.run([sys.executable, "-m", "unlearn_core", "runs", "--workspace", str(tmp_path), "--cancel",
                          row.id, "--json"], env=_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    ended = _wait(ws, row.id, lambda r: not r.active, timeout=30)
    assert (ended.status, ended.message) == ("cancelled", "cancelled: nothing was stored")
    assert ws.list("run") == []


@pytest.mark.slow  # cost: starts worker processes (about 9 s each to import torch)
def test_failed_run_has_one_line_and_the_trace_in_its_log(tmp_path: Path, tiny, monkeypatch) -> None:
    monkeypatch.setenv("UNLEARN_WORKER_THREADS", "1")
    ws = Workspace(tmp_path)
    row = start_run(ws, _request(tiny, forget="random:0.1", method="unsir", config={}), "unsir on samples")
    failed = _wait(ws, row.id, lambda r: not r.active)
    assert failed.status == "failed" and failed.error == "UNSIR (noise, impair, repair) supports class forgetting, not samples (random:0.1)"
    assert "Traceback" in Path(failed.log_path).read_text()
    assert ws.list("model") == []  # refused before the oracle


@pytest.mark.slow  # cost: starts worker processes (about 9 s each to import torch)
def test_two_concurrent_cli_runs_train_one_oracle(tmp_path: Path, tiny) -> None:
    args = [sys.executable, "-m", "unlearn_core", "unlearn", "--dataset", "digits", "--data-option", "size=8",
            "--checkpoint", str(tiny[3]), "--forget", "class:3", "--method", "finetune", "--set", "epochs=1",
            "--device", "cpu", "--workspace", str(tmp_path / "ws"), "--json", "--quiet"]
    procs = [subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=400) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    payloads = [json.loads(o) for o, _ in outs]
    reasons = sorted(p["retrain_reason"].split(";")[0] for p in payloads)
    # one trained it; the other waited for it (the usual case) or, started late, found it stored
    assert reasons.count("no cached oracle") == 1, reasons
    other = next(r for r in reasons if r != "no cached oracle")
    assert other == "computed by a concurrent run" or other.startswith("reused the cached oracle"), reasons
    assert sorted(p["retrain_reused"] for p in payloads) == [False, True]
    assert all(p["status"] == "done" and p["run_id"] for p in payloads)
    ws = Workspace(tmp_path / "ws")
    assert len(_oracles(ws)) == 1
    waited = max(p["retrain_waited_s"] for p in payloads)
    print(f"second run waited {waited:.1f} s for the shared oracle")
    listed = json.loads(subprocess.run([*args[:3], "runs", "--workspace", str(tmp_path / "ws"), "--json"],
                                       env=_env(), capture_output=True, text=True, timeout=120).stdout)
    assert sorted(r["id"] for r in listed["runs"]) == sorted(p["run_id"] for p in payloads)
    assert {r["status"] for r in listed["runs"]} == {"done"}

