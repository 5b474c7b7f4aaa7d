"""The workspace store: durable, never overwrites, never shows a half-written entry."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn_core.fs_policy import FsPolicyError
from unlearn_core.models import ModelMeta, build_model, state_digest
from unlearn_core.workspace.store import MODEL_FILE, Workspace


@pytest.fixture
def model_and_meta():
    torch.manual_seed(0)
    meta = ModelMeta("small_cnn", 10, (1, 16, 16), dataset="digits", arch_options={"width": 8}, seed=3,
                     metrics={"test_acc": 0.9})
    return meta.build().eval(), meta


def _kind_dir_contents(ws: Workspace, kind: str) -> list[str]:
    folder = ws.root / kind
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_store_survives_a_reopen(tmp_path: Path, model_and_meta) -> None:
    model, meta = model_and_meta
    ws = Workspace(tmp_path / "ws")
    entry = ws.save_model(model, meta, "my model", key="k1", info={"time_s": 1.5})
    forget = ws.save_forget_set("threes", "digits", "class:3", np.array([5, 1, 9]))
    reopened = Workspace(tmp_path / "ws")
    assert [e.id for e in reopened.list("model")] == [entry.id]
    assert [e.id for e in reopened.list("forget_set", dataset="digits")] == [forget.id]
    stored = reopened.get(entry.id)
    assert (stored.name, stored.dataset, stored.key, stored.kind) == ("my model", "digits", "k1", "model")
    assert stored.info["time_s"] == 1.5 and stored.info["meta"]["seed"] == 3
    assert stored.path == entry.path and stored.file(MODEL_FILE).is_file()
    assert json.loads(stored.file("info.json").read_text()) == stored.info
    loaded, loaded_meta = reopened.load_model(entry.id)
    assert loaded_meta == meta and state_digest(loaded) == state_digest(model)
    x = torch.rand(3, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_nothing_is_overwritten(tmp_path: Path, model_and_meta) -> None:
    model, meta = model_and_meta
    ws = Workspace(tmp_path)
    first = ws.save_model(model, meta, "same name", key="same")
    with torch.no_grad():
        model.head.bias.add_(1.0)
    second = ws.save_model(model, meta, "same name", key="same")
    assert first.id != second.id and first.path != second.path
    assert {e.id for e in ws.list("model")} == {first.id, second.id}
    assert [e.id for e in ws.list("model")][0] == second.id  # newest first
    assert state_digest(ws.load_model(first.id)[0]) != state_digest(ws.load_model(second.id)[0])
    assert ws.find("model", "same").id == second.id  # the newest under a key


def test_failed_writer_leaves_nothing_visible(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)

    def broken(path: Path) -> None:
        path.write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        ws.put("run", "doomed", dataset="digits", info={"a": 1}, key="doomed",
               files={"a.txt": lambda p: p.write_text("ok"), "b.txt": broken})
    assert ws.list("run") == [] and ws.find("run", "doomed") is None
    assert _kind_dir_contents(ws, "run") == []
    assert not any((ws.root / ".tmp").iterdir())  # the temporary folder was removed
    with sqlite3.connect(ws.root / "registry.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 0
    # a later save works normally
    ok = ws.put("run", "fine", dataset="digits", info={}, files={"a.txt": lambda p: p.write_text("ok")})
    assert [e.id for e in ws.list("run")] == [ok.id] and ok.file("a.txt").read_text() == "ok"


def test_put_returns_the_entry_that_get_reads_back_and_refuses_unknown_kinds(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    before = time.time()
    put = ws.put("forget_set", "my set", dataset="shapes", info={"n": 3}, key="k1",
                 files={"a.txt": lambda p: p.write_text("x")})
    assert (put.kind, put.name, put.dataset, put.key, put.info) == ("forget_set", "my set", "shapes", "k1", {"n": 3})
    assert before <= put.created <= time.time() and put.path == tmp_path / "forget_set" / put.id
    assert ws.get(put.id) == put  # what the caller holds is what the registry stored
    with pytest.raises(ValueError, match=r"^unknown entry kind 'runs'; kinds: model, run, forget_set, study$"):
        ws.put("runs", "x", dataset="digits", info={})


def test_a_failure_before_any_file_is_written_leaves_no_pending_row(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    (tmp_path / ".tmp").write_text("not a folder")  # the temporary folder cannot be made
    with pytest.raises(FsPolicyError, match=r"\.tmp is a file, not a folder"):  # the cause, refused before the row
        ws.put("run", "doomed", dataset="digits", info={})
    with sqlite3.connect(tmp_path / "registry.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 0


def test_pending_rows_stay_invisible(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    with sqlite3.connect(ws.root / "registry.sqlite") as db:
        db.execute(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
            ("crashed-1", "model", "half", "digits", "k", time.time(), "{}"),
        )
    reopened = Workspace(tmp_path)
    assert reopened.list("model") == [] and reopened.list("model", dataset="digits") == []
    assert reopened.find("model", "k") is None
    with pytest.raises(ValueError, match="no entry 'crashed-1'"):
        reopened.get("crashed-1")


def test_find_by_key_and_kind(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    run = ws.put("run", "r", dataset="digits", info={"n": 1}, key="shared")
    assert ws.find("run", "shared").id == run.id
    assert ws.find("model", "shared") is None  # keys are per kind
    assert ws.find("run", "other") is None
    assert ws.list("run", dataset="shapes") == []
    with pytest.raises(ValueError, match="unknown entry kind 'bogus'"):
        ws.put("bogus", "x", dataset="digits", info={})


def test_forget_set_round_trip(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    many = np.array([3, 14, 15, 92, 653], dtype=np.int64)
    entry = ws.save_forget_set("picked", "digits", "indices:picked.txt", many)
    single = ws.save_forget_set("one", "digits", "indices:one.txt", np.array([7]))
    reopened = Workspace(tmp_path)
    got = {e.name: e for e in reopened.list("forget_set", dataset="digits")}
    assert np.array_equal(reopened.forget_set_indices(got["picked"]), many)
    assert got["picked"].info == {"spec": "indices:picked.txt", "n": 5}
    assert reopened.forget_set_indices(got["one"]).tolist() == [7]  # one index is still an array
    assert entry.id != single.id


def test_info_with_numpy_values_and_refusals(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    entry = ws.put("run", "np", dataset="digits",
                   info={"n": np.int64(3), "acc": np.float32(0.5), "idx": np.arange(3), "where": tmp_path})
    assert ws.get(entry.id).info == {"n": 3, "acc": 0.5, "idx": [0, 1, 2], "where": str(tmp_path)}
    with pytest.raises(TypeError, match="cannot store object"):
        ws.put("run", "bad", dataset="digits", info={"x": object()})
    assert [e.id for e in ws.list("run")] == [entry.id]


def test_model_meta_of_any_architecture_round_trips(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    meta = ModelMeta("resnet18", 6, (3, 32, 32), dataset="shapes", arch_options={"width": 4})
    model = build_model("resnet18", num_classes=6, in_channels=3, image_size=32, width=4).eval()
    entry = ws.save_model(model, meta, "tiny resnet")
    loaded, loaded_meta = Workspace(tmp_path).load_model(entry.id)
    assert loaded_meta == meta and state_digest(loaded) == state_digest(model)


def test_a_run_is_stored_file_by_file_and_reads_back(tmp_path: Path, model_and_meta) -> None:
    """The stored layout of a run: result.json (the summary, indented), the unlearned model with its note,
    the mask as uint8, tensor artifacts (numpy arrays too, nested keys joined by '/') in safetensors and
    the rest in JSON; a run without mask or tensors writes neither file."""
    from safetensors.torch import load_file

    from unlearn_core.models import load_checkpoint
    from unlearn_core.workspace.store import load_run_artifacts

    model, meta = model_and_meta
    ws = Workspace(tmp_path / "ws")
    summary = {"method": "del", "forget": "class:3", "seed": 2, "dataset": "digits", "gap": np.float32(0.5)}
    mask = {"head.weight": torch.zeros(10, 8, dtype=torch.bool).index_fill_(1, torch.tensor([2]), True)}
    artifacts = {"curve": np.array([1.0, 2.0]), "labels": np.array(["a", None], dtype=object), "steps": 3,
                 "scores": {"t": torch.arange(3.0), "layer": "body.0"}}
    entry = ws.save_run(summary, model, meta, mask=mask, artifacts=artifacts, entry_id="20261130-000000-abcdef12")
    assert entry.id == "20261130-000000-abcdef12" and entry.name == "del | class:3 | seed 2"
    assert entry.kind == "run" and entry.dataset == "digits"
    expected = {**summary, "gap": 0.5}
    assert ws.get(entry.id).info == expected
    result = entry.file("result.json").read_text()
    assert json.loads(result) == expected and result.startswith('{\n  "method": "del",\n  "forget"')
    loaded, loaded_meta = load_checkpoint(entry.file(MODEL_FILE))
    assert state_digest(loaded) == state_digest(model) and loaded_meta.note == "del forgetting class:3"
    assert meta.note == ""  # the caller's metadata is not touched
    stored_mask = load_file(str(entry.file("mask.safetensors")))
    assert set(stored_mask) == {"head.weight"} and stored_mask["head.weight"].dtype == torch.uint8
    assert torch.equal(stored_mask["head.weight"].bool(), mask["head.weight"])
    back = load_run_artifacts(entry)
    assert set(back) == {"curve", "labels", "steps", "scores/t", "scores/layer"}
    assert torch.equal(back["curve"], torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert torch.equal(back["scores/t"], torch.arange(3.0))
    assert (back["labels"], back["steps"], back["scores/layer"]) == (["a", None], 3, "body.0")
    assert json.loads(entry.file("artifacts.json").read_text()) == {"labels": ["a", None], "steps": 3,
                                                                   "scores/layer": "body.0"}

    plain = ws.save_run({**summary, "seed": 3}, model, meta, artifacts={"steps": 1})
    assert sorted(p.name for p in plain.path.iterdir()) == ["artifacts.json", "info.json", MODEL_FILE, "result.json"]
    assert load_run_artifacts(plain) == {"steps": 1}
    bare = ws.save_run({**summary, "seed": 4}, model, meta)
    assert sorted(p.name for p in bare.path.iterdir()) == ["info.json", MODEL_FILE, "result.json"]
    assert load_run_artifacts(bare) == {}


def test_a_hand_picked_forget_set_points_at_its_own_indices_file(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    entry = ws.save_forget_set("picked", "digits", None, [4, 8, 15])
    assert entry.info == {"spec": f"indices:{entry.file('indices.txt')}", "n": 3}
    assert entry.file("indices.txt").read_text() == "4\n8\n15\n"
    indices = ws.forget_set_indices(entry)
    assert indices.dtype == np.int64 and indices.tolist() == [4, 8, 15]


def test_ids_start_with_the_creation_time_and_broken_entries_keep_their_row(tmp_path: Path) -> None:
    import re

    from unlearn_core.workspace.store import new_id

    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", new_id())
    assert new_id()[:8] == time.strftime("%Y%m%d")
    ws = Workspace(tmp_path)
    entry = ws.put("run", "r", dataset="digits", info={}, key="k")
    ws.mark_broken(entry.id)
    with sqlite3.connect(tmp_path / "registry.sqlite") as db:
        assert db.execute("SELECT status FROM entries WHERE id = ?", (entry.id,)).fetchone() == ("broken",)
    assert ws.list("run") == [] and ws.find("run", "k") is None


def test_housekeeping_counts_every_stale_folder_and_needs_no_tmp_folder(tmp_path: Path) -> None:
    import os

    ws = Workspace(tmp_path)
    assert ws.housekeeping() == {"pending_rows": 0, "tmp_folders": 0}  # nothing was ever written
    for name in ("a", "b", "c"):
        (tmp_path / ".tmp" / name).mkdir(parents=True)
        os.utime(tmp_path / ".tmp" / name, (time.time() - 3600,) * 2)
    assert ws.housekeeping() == {"pending_rows": 0, "tmp_folders": 3}
    assert list((tmp_path / ".tmp").iterdir()) == []


@pytest.mark.parametrize(("sqlite_message", "advice"), [
    ("database is locked", "another process is writing to it; wait for it to finish, or use another workspace"),
    ("database table is busy", "another process is writing to it; wait for it to finish, or use another workspace"),
    ("attempt to write a readonly database", "the folder cannot be written; make it writable or use another workspace"),
    ("unable to open database file", "the folder cannot be written; make it writable or use another workspace"),
    ("disk I/O error", "the folder cannot be written; make it writable or use another workspace"),
    ("database or disk is full", "the disk is full; free some space"),
    ("file is not a database",
     "the file is damaged; move it away (a new empty registry is then created) or use another workspace"),
])
def test_each_sqlite_failure_gets_its_own_advice(tmp_path: Path, sqlite_message: str, advice: str) -> None:
    from unlearn_core.workspace.store import registry_error

    err = registry_error(tmp_path, sqlite3.OperationalError(sqlite_message))
    assert str(err) == f"workspace registry {tmp_path / 'registry.sqlite'} cannot be used ({sqlite_message}): {advice}"
