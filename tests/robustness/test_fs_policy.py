"""The file-system policy (issue 26): nothing outside the workspace, no hang, no silently wrong data.

Each numbered case of the issue has a test here or a case in the CLI catalogue
(`test_cli_catalogue.CASES`, section "issue 26"); every one of them failed on the code before the
policy (checked once against that commit). Fast: nothing trains.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import unlearn_core.fs_policy as fs_policy
from unlearn_core.cli import main
from unlearn_core.data import load_dataset
from unlearn_core.fs_policy import FsPolicyError, TreeWalk, check_id
from unlearn_core.runs.worker import SEED_MAX, RunRequest, check_seed
from unlearn_core.workspace.store import Workspace

OLD = time.time() - 3600  # older than housekeeping's 10 minutes


def _old_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "keep.txt").write_text("precious")
    os.utime(path, (OLD, OLD))
    return path


def _images(root: Path, classes: dict[str, int]) -> Path:
    """`root/<class>/<i>.png`: tiny grey PNGs, `classes[name]` of each."""
    for name, n in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((6, 6, 3), 20 * i, np.uint8)).save(root / name / f"{i}.png")
    return root


# -- 1. deleting outside the workspace -------------------------------------------------------------
def test_runs_listing_never_deletes_through_a_linked_scratch_folder(tmp_path: Path, capsys) -> None:
    elsewhere = tmp_path / "other-disk"
    victim = _old_folder(elsewhere / "old-project")
    ws = tmp_path / "ws"
    Workspace(ws)
    (ws / ".tmp").symlink_to(elsewhere)
    assert main(["runs", "--workspace", str(ws), "--json"]) == 0
    assert '"cleaned": {"pending_rows": 0, "tmp_folders": 0}' in capsys.readouterr().out
    assert (victim / "keep.txt").read_text() == "precious"
    assert main(["runs", "--workspace", str(ws), "--clean"]) == 0  # cleaning never enters the link either
    assert "(a link: never entered)" in capsys.readouterr().out
    assert (victim / "keep.txt").read_text() == "precious"


def test_runs_clean_removes_only_stale_leftovers_inside_and_says_which(tmp_path: Path, capsys) -> None:
    ws = Workspace(tmp_path / "ws")
    outside = _old_folder(tmp_path / "outside")
    stale = _old_folder(ws.root / ".tmp" / "20260101-000000-deadbeef")
    young = (ws.root / ".tmp" / "young")
    young.mkdir()
    link = ws.root / ".tmp" / "link-out"
    link.symlink_to(outside)
    os.utime(link, (OLD, OLD), follow_symlinks=False)
    with sqlite3.connect(ws.root / "registry.sqlite") as db:
        db.execute("INSERT INTO entries VALUES ('crashed', 'run', 'x', 'digits', NULL, ?, 'pending', '{}')", (OLD,))
    assert main(["runs", "--workspace", str(ws.root), "--clean", "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert f"would remove {stale}" in said and f"would remove {link}" in said and "row crashed" in said
    assert stale.exists() and link.is_symlink()  # a dry run removes nothing
    assert main(["runs", "--workspace", str(ws.root), "--clean", "--json"]) == 0
    assert '"cleaned": {"pending_rows": 1, "tmp_folders": 2}' in capsys.readouterr().out
    assert not stale.exists() and not link.is_symlink() and young.exists()
    assert (outside / "keep.txt").read_text() == "precious"  # the link went, never its target


def test_remove_inside_refuses_a_path_outside_the_root(tmp_path: Path) -> None:
    outside = _old_folder(tmp_path / "outside")
    (tmp_path / "ws").mkdir()
    with pytest.raises(FsPolicyError, match="leads outside"):
        fs_policy.remove_inside(tmp_path / "ws", tmp_path / "ws" / ".." / "outside")
    assert outside.exists()


# -- 2. writing outside the workspace --------------------------------------------------------------
@pytest.mark.parametrize("entry_id", ["../escaped", "/tmp/absolute", "a/b", "..", "", "x" * 65, "-starts-with-dash",
                                      "caf\u00e9", "new\nline"])
def test_put_refuses_an_id_that_could_name_another_folder(tmp_path: Path, entry_id: str) -> None:
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(FsPolicyError, match="is not a valid id"):
        ws.put("run", "x", dataset="digits", info={}, files={"a.txt": lambda p: p.write_text("x")}, entry_id=entry_id)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"]
    assert not any((ws.root / ".tmp").glob("*"))
    with sqlite3.connect(ws.root / "registry.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 0


def test_put_never_writes_through_a_scratch_folder_linked_outside(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    (tmp_path / "elsewhere").mkdir()
    (ws.root / ".tmp").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FsPolicyError, match="leads outside"):
        ws.put("run", "x", dataset="digits", info={})
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_the_worker_refuses_a_crafted_run_id_before_writing_anything(tmp_path: Path, capsys) -> None:
    ws = Workspace(tmp_path / "a" / "ws")
    request = RunRequest("digits", "class:3", "finetune")
    with sqlite3.connect(ws.root / "registry.sqlite") as db:  # a registry someone crafted
        db.executescript("CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, title TEXT NOT NULL, method TEXT NOT "
                         "NULL, forget TEXT NOT NULL, dataset TEXT NOT NULL, request TEXT NOT NULL, status TEXT NOT "
                         "NULL, progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', phase TEXT NOT "
                         "NULL DEFAULT '', created REAL NOT NULL, started REAL, ended REAL, heartbeat REAL NOT NULL, "
                         "cancel_requested INTEGER NOT NULL DEFAULT 0, error TEXT, log_path TEXT, pid INTEGER, "
                         "host TEXT)")
        db.execute("INSERT INTO runs (id, title, method, forget, dataset, request, status, created, heartbeat) "
                   "VALUES ('../../escaped', 't', 'finetune', 'class:3', 'digits', ?, 'queued', ?, ?)",
                   (__import__("json").dumps(request.to_dict()), time.time(), time.time()))
    before = sorted(p for p in tmp_path.rglob("*"))
    assert main(["worker", "../../escaped", "--workspace", str(ws.root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run id '../../escaped' is not a valid id" in err
    assert sorted(p for p in tmp_path.rglob("*")) == before  # no info.json, model or result.json anywhere


def test_a_crafted_entry_row_is_never_listed_or_served(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    with sqlite3.connect(ws.root / "registry.sqlite") as db:
        db.execute("INSERT INTO entries VALUES ('../../x', 'model', 'evil', 'digits', 'k', ?, 'complete', '{}')",
                   (time.time(),))
    assert ws.list("model") == []
    with pytest.raises(FsPolicyError, match="is not a valid id"):
        ws.get("../../x")
    with pytest.raises(FsPolicyError):
        ws.find("model", "k")


@pytest.mark.parametrize(("value", "ok"), [("20260101-120000-abcdef12", True), ("a", True), ("A_b-9", True),
                                           ("x" * 64, True), ("x" * 65, False), ("_x", False), ("a.b", False),
                                           ("a b", False), (None, False), (7, False)])
def test_check_id_known_answers(value: object, ok: bool) -> None:
    if ok:
        assert check_id(value) == value
    else:
        with pytest.raises(FsPolicyError):
            check_id(value)


# -- 3. hanging forever ----------------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_a_fifo_among_the_images_is_named_and_refused_without_opening_it(tmp_path: Path) -> None:
    root = _images(tmp_path / "images", {"a": 3, "b": 3})
    os.mkfifo(root / "a" / "zz.png")
    os.mkfifo(root / "b" / "notes.txt")  # not an image name: never looked at
    with pytest.raises(FsPolicyError) as refusal:
        load_dataset("imagefolder", root=str(root), size=8)
    assert str(refusal.value) == (f"ImageFolder {root}: refused 1 FIFO ({root / 'a' / 'zz.png'}); only regular files "
                                  "and folders inside it are read, each once: remove or replace these")


# -- 4. silently wrong data ------------------------------------------------------------------------
def test_a_class_folder_linking_to_its_parent_is_refused_not_followed(tmp_path: Path) -> None:
    root = _images(tmp_path / "images", {"a": 6, "b": 6})
    (root / "a" / "up").symlink_to("..")
    with pytest.raises(FsPolicyError, match=r"refused \d+ links? to a folder or file already read"):
        load_dataset("imagefolder", root=str(root), size=8)
    (root / "a" / "up").unlink()
    data = load_dataset("imagefolder", root=str(root), size=8)  # the 12 real files, each once
    assert len(data.train) + len(data.test) == 12 and data.class_names == ["a", "b"]


def test_links_inside_the_root_count_once_and_links_out_of_it_are_refused(tmp_path: Path) -> None:
    root = _images(tmp_path / "images", {"a": 2, "b": 2})
    outside = _images(tmp_path / "outside", {"c": 2})
    walk = TreeWalk(root)
    (root / "a" / "same.png").symlink_to(root / "b" / "0.png")  # the same image in two classes
    (root / "b" / "far").symlink_to(outside / "c")
    files = [walk.files(root / c, (".png",)) for c in ("a", "b")]
    assert [len(f) for f in files] == [3, 1]  # a/same.png is read as a, so b/0.png is not read again
    assert walk.problems == {"link to a folder or file already read": [str(root / "b" / "0.png")],
                             "link leaving the folder": [str(root / "b" / "far")]}
    with pytest.raises(FsPolicyError, match="2 problems|refused 1 link to a folder or file already read"):
        walk.refuse_problems("ImageFolder")


def test_a_train_image_linked_into_test_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "images"
    _images(root / "train", {"a": 2, "b": 2})
    _images(root / "test", {"a": 1, "b": 1})
    (root / "test" / "a" / "copy.png").symlink_to(root / "train" / "a" / "0.png")
    with pytest.raises(FsPolicyError, match="already read"):
        load_dataset("imagefolder", root=str(root), size=8)


def test_seed_range_known_answers() -> None:
    assert check_seed(0) == 0 and check_seed(SEED_MAX) == SEED_MAX == 2**32 - 1
    for bad in (-1, SEED_MAX + 1, 2**70, True, 1.0, "3"):
        with pytest.raises(ValueError, match="seed must be an integer from 0 to 4294967295"):
            check_seed(bad)
    with pytest.raises(ValueError, match="seed must be"):
        RunRequest("digits", "class:3", "finetune", seed=-1).check()  # the worker's request too


def test_free_space_check_known_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    mb = 2**20
    monkeypatch.setattr(fs_policy.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(100 * mb, 0, 20 * mb))
    fs_policy.check_free_space(tmp_path / "not" / "yet", 4 * mb, "x")  # 4 + 16 MB margin = 20 MB: fits
    with pytest.raises(FsPolicyError, match=r"x: the disk holding .* has 20.0 MB free but this run stores about "
                                            r"20.0 MB"):
        fs_policy.check_free_space(tmp_path, 4 * mb + 1, "x")


def test_a_full_disk_reported_in_words_is_a_full_disk_and_leaves_nothing(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors import SafetensorError

    from unlearn_core.models import ModelMeta, build_model

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28, message: \"No space left on device\" })")

    monkeypatch.setattr("unlearn_core.models.checkpoint.save_file", full)
    ws = Workspace(tmp_path / "ws")
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=2)
    with pytest.raises(OSError) as failure:
        ws.save_model(model, ModelMeta("small_cnn", 10, (1, 16, 16), arch_options={"width": 2}), "m")
    assert failure.value.errno == 28 and failure.value.filename.endswith("model.safetensors")
    assert list((ws.root / ".tmp").iterdir()) == [] and list((ws.root / "model").iterdir()) == []
    assert ws.list("model") == []
    with sqlite3.connect(ws.root / "registry.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 0


def test_float16_weights_still_load_but_integer_ones_do_not(tmp_path: Path) -> None:
    from unlearn_core.models import CheckpointMismatch, build_model
    from unlearn_core.models.checkpoint import check_state_dict

    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=2)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    check_state_dict(model, state)  # the same kind of value: loads (converted)
    state["features.0.0.weight"] = state["features.0.0.weight"].to(torch.int32)
    with pytest.raises(CheckpointMismatch, match=r"wrong dtypes: features\.0\.0\.weight: checkpoint int32 vs model "
                                                 r"float32"):
        check_state_dict(model, state)


# -- 5. the feature cache is a workspace folder (issue 25 item 2) ------------------------------------
def test_the_cache_folder_is_checked_like_every_workspace_folder(tmp_path: Path) -> None:
    from unlearn_core.workspace import feature_cache as fc

    assert "cache" in fs_policy.WORKSPACE_FOLDERS
    ws = Workspace(tmp_path / "ws")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "probe").mkdir(parents=True)
    (ws.root / "cache").symlink_to(elsewhere)
    with pytest.raises(FsPolicyError, match="leads outside"):
        ws.check_writable()  # refused before the work, as a linked run or model folder is
    key = {"model": "m"}
    planted = fc.cache_path(ws.root, "probe", key)  # an entry someone left at the link's far end
    fc.cached_arrays(tmp_path / "other", "probe", key, lambda: ({"a": np.full(3, 7.0)}, {}))
    (elsewhere / "probe" / planted.name).write_bytes(fc.cache_path(tmp_path / "other", "probe", key).read_bytes())
    calls = []
    found = fc.cached_arrays(ws.root, "probe", key, lambda: calls.append(1) or ({"a": np.zeros(3)}, {}))
    assert calls == [1] and not found.reused and found.arrays["a"].tolist() == [0, 0, 0]  # never read through it
    fc.record_timing(ws.root, "projection_umap", 5.0, 100)
    assert sorted(p.name for p in (elsewhere / "probe").iterdir()) == [planted.name]  # nothing written through it
    assert not (elsewhere / "timings.json").exists() and fc.last_timing(ws.root, "projection_umap") is None
    (ws.root / "cache").unlink()
    (ws.root / "cache").write_text("not a folder")
    with pytest.raises(FsPolicyError, match="is not a folder"):
        ws.check_writable()


_FIFO_PROBE = """
import os, sys
import numpy as np
from unlearn_core.workspace import feature_cache as fc
root, key = sys.argv[1], {"model": "m"}
entry = fc.cache_path(root, "probe", key)
entry.parent.mkdir(parents=True)
os.mkfifo(entry)
os.mkfifo(os.path.join(root, "cache", "timings.json"))
assert fc.read_cached(root, "probe", key) is None
assert fc.last_timing(root, "projection_umap") is None
found = fc.cached_arrays(root, "probe", key, lambda: ({"a": np.arange(3.0)}, {}))
assert not found.reused and entry.is_file() and fc.read_cached(root, "probe", key).reused
fc.record_timing(root, "projection_umap", 6.0, 200)
assert fc.last_timing(root, "projection_umap") == {"seconds": 6.0, "n": 200.0}
print("ok")
"""


def test_a_fifo_in_the_cache_is_never_opened_and_is_replaced(tmp_path: Path) -> None:
    import subprocess
    import sys

    # in a process of its own: opening a FIFO blocks inside safetensors with the GIL held, where no
    # timeout of this process could end the test
    done = subprocess.run([sys.executable, "-c", _FIFO_PROBE, str(tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def _cache_entries(root: Path) -> Path:
    """A cache with known sizes: 1,000 + 24 bytes in two namespaces and a 10-byte timings file."""
    cache = root / "cache"
    (cache / "outputs").mkdir(parents=True)
    (cache / "projection" / "deep").mkdir(parents=True)
    (cache / "outputs" / "a.safetensors").write_bytes(b"x" * 1000)
    (cache / "projection" / "deep" / "b.safetensors").write_bytes(b"y" * 24)
    (cache / "timings.json").write_bytes(b"{}" + b" " * 8)
    return cache


@pytest.mark.timeout(60)
def test_cache_command_reports_known_sizes_and_clears_only_inside(tmp_path: Path, capsys) -> None:
    import json

    ws = Workspace(tmp_path / "ws")
    cache = _cache_entries(ws.root)
    outside = _old_folder(tmp_path / "outside")
    (cache / "outputs" / "link-out").symlink_to(outside)
    os.mkfifo(cache / "projection" / "fifo.safetensors")
    assert main(["cache", "--workspace", str(ws.root), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["files"], report["bytes"]) == (3, 1034)
    assert report["entries"] == {"outputs": {"files": 1, "bytes": 1000}, "projection": {"files": 1, "bytes": 24},
                                 "timings.json": {"files": 1, "bytes": 10}}
    assert len(report["skipped"]) == 2 and report["removed"] == [] and report["freed_bytes"] == 0
    assert main(["runs", "--workspace", str(ws.root), "--clean"]) == 0  # housekeeping leaves the cache alone
    assert main(["cache", "--workspace", str(ws.root), "--clear", "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert f"would remove {cache / 'outputs'}" in said and (cache / "outputs" / "a.safetensors").exists()
    assert main(["cache", "--workspace", str(ws.root), "--clear", "--json"]) == 0
    cleared = json.loads(capsys.readouterr().out)
    assert cleared["removed"] == [str(cache / n) for n in ("outputs", "projection", "timings.json")]
    assert (cleared["freed_bytes"], cleared["files"], cleared["bytes"]) == (1034, 0, 0)
    assert cache.is_dir() and list(cache.iterdir()) == []
    assert (outside / "keep.txt").read_text() == "precious"  # the link went, never its target


def test_cache_command_never_enters_a_linked_cache_folder(tmp_path: Path, capsys) -> None:
    import json

    ws = Workspace(tmp_path / "ws")
    outside = _cache_entries(tmp_path / "other-disk")
    (ws.root / "cache").symlink_to(outside)
    assert main(["cache", "--workspace", str(ws.root), "--clear", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["removed"] == [] and (report["files"], report["bytes"]) == (0, 0)
    assert report["skipped"] == [f"{ws.root / 'cache'} (a link or not a folder: never entered)"]
    assert (outside / "outputs" / "a.safetensors").stat().st_size == 1000
    assert main(["cache", "--workspace", str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
