"""Bring your own unlearned model, in the app: the Unlearn page takes a checkpoint unlearned
elsewhere, evaluates it in a worker like the studio's own runs, and stores it as method "external".

The workspace is a copy of `digits_external_run`'s, whose retrained oracle for class:3 (seed 0) is
a stored stand-in, so the worker evaluates without retraining. The uploaded "unlearned" model is the
shipped original itself: its metrics must then be the original's exactly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from studio_ui.state import ForgetSelection
from unlearn_core.models.defaults import default_checkpoint_path
from unlearn_core.workspace.store import Workspace

ROOT = Path(__file__).resolve().parents[2]


def _unlearn_page(app: AppTest, root: Path) -> AppTest:
    app.session_state["workspace_root"] = str(root)
    app.session_state["forget_selection"] = ForgetSelection("class:3", "class 3")
    app.switch_page("studio_ui/app_pages/unlearn.py").run()
    assert not app.exception, app.exception
    return app


def _upload(app: AppTest, name: str, blob: bytes) -> AppTest:
    app.file_uploader(key="external_upload").set_value((name, blob, "application/octet-stream")).run()
    app.button(key="external_go").click().run()
    assert not app.exception, app.exception
    return app


@pytest.mark.slow  # cost: evaluates in a worker process
def test_an_uploaded_unlearned_checkpoint_is_evaluated_like_a_run(app: AppTest, digits_external_run, tmp_path: Path,
                                                                  wait_for_jobs) -> None:
    source, shipped_run = digits_external_run
    root = tmp_path / "copied"
    shutil.copytree(source, root)
    app = _unlearn_page(app, root)
    before = {e.id for e in Workspace(root).list("run")}

    app = _upload(app, "shipped_as_unlearned.safetensors", default_checkpoint_path("digits").read_bytes())
    assert not app.error, [e.value for e in app.error]
    wait_for_jobs(app)
    (new,) = [e for e in Workspace(root).list("run") if e.id not in before]
    s, reference = new.info, Workspace(root).get(shipped_run).info
    assert s["method"] == "external" and s["time_s"] is None and s["retrain_reused"]
    assert s["model_name"] == "shipped_as_unlearned.safetensors"
    for key in ("forget_acc", "retain_acc", "test_acc"):  # the original, evaluated the same way
        assert s["unlearned"][key] == reference["unlearned"][key], key
    assert s["avg_gap"] == reference["avg_gap"]
    assert s["unlearned"]["forget_acc"] == s["original"]["forget_acc"] > 0.9
    assert any("unlearned elsewhere (time unknown)" in c.value for c in app.caption), [c.value for c in app.caption]


def test_a_checkpoint_that_does_not_fit_is_refused_in_one_line(app: AppTest, tmp_path: Path) -> None:
    app = _unlearn_page(app, tmp_path / "workspace")
    torch.save({"conv.weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    for name, blob in (("junk.safetensors", b"\x00" * 64), ("other.pt", (tmp_path / "other.pt").read_bytes())):
        app = _upload(app, name, blob)
        (error,) = app.error
        assert error.value.startswith(f"Checkpoint not evaluated: {name}") and "\n" not in error.value, error.value
    assert Workspace(tmp_path / "workspace").list("run") == []
    assert not (tmp_path / "workspace" / "uploads").exists() or not any((tmp_path / "workspace" / "uploads").iterdir())
