"""The workspace store: durable, never overwrites, never shows a half-written entry."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn_core.models import ModelMeta, build_model, state_digest
from unlearn_core.store import MODEL_FILE, Workspace


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
    with pytest.raises(ValueError, match=r"^unknown entry kind 'runs'; kinds: model, run, forget_set$"):
        ws.put("runs", "x", dataset="digits", info={})


def test_a_failure_before_any_file_is_written_leaves_no_pending_row(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    (tmp_path / ".tmp").write_text("not a folder")  # the temporary folder cannot be made
    with pytest.raises(OSError) as failure:
        ws.put("run", "doomed", dataset="digits", info={})
    assert isinstance(failure.value, (FileExistsError, NotADirectoryError))  # the cause, not a clean-up error
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
