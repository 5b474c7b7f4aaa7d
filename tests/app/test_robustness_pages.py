"""Issue #10 in the app: a broken upload and a bad workspace never reach a page as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio_ui.state import ModelRef
from unlearn_core.models import build_model, save_checkpoint
from unlearn_core.models.checkpoint import ModelMeta

# Model & data last: its "Model source" radio makes its own choice active when it runs.
PAGES = ["home", "benchmarks", "forget_set", "localization", "concepts", "unlearn", "compare", "tour", "model_data"]


def _visit_every_page(at: AppTest) -> list[str]:
    """Switch to each page; no exception element anywhere. Returns the error messages shown."""
    shown = []
    for page in PAGES:
        at.switch_page(f"studio_ui/app_pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        shown += [e.value for e in at.error]
    return shown


def _workspace_box(at: AppTest):
    return next(t for t in at.sidebar.text_input if t.label == "Workspace folder")


def test_broken_upload_and_bad_workspace_never_show_a_traceback(app: AppTest, tmp_path: Path) -> None:
    workspace = app.session_state["workspace_root"]
    app.switch_page("studio_ui/app_pages/model_data.py").run()  # the app opens on Home
    next(r for r in app.radio if r.label == "Model source").set_value("Checkpoint file").run()
    app.file_uploader[0].upload("my model.safetensors", b"not a checkpoint at all").run()
    assert not app.exception
    assert any("my model.safetensors is not a readable safetensors checkpoint" in e.value for e in app.error)
    assert app.session_state["model_ref"] == ModelRef("default")  # never became the active model
    assert not any(Path(workspace, "uploads").glob("*/*"))  # and its copy is gone

    other = build_model("small_cnn", num_classes=6, in_channels=3, image_size=32, width=2)
    meta = ModelMeta("small_cnn", 6, (3, 32, 32), dataset="shapes", arch_options={"width": 2})
    blob = save_checkpoint(other, tmp_path / "shapes.safetensors", meta).read_bytes()
    app.file_uploader[0].upload("shapes model.safetensors", blob).run()
    assert not app.exception
    assert any("shapes model.safetensors does not fit the active dataset: the model predicts 6 classes"
               in e.value for e in app.error), [e.value for e in app.error]
    assert app.session_state["model_ref"] == ModelRef("default")

    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a workspace")
    _workspace_box(app).input(str(a_file)).run()
    assert any("notes.txt is a file, not a folder" in e.value for e in app.sidebar.error)
    assert app.session_state["workspace_root"] == workspace

    typo = tmp_path / "worksapce"
    _workspace_box(app).input(str(typo)).run()
    assert any("does not exist yet" in w.value for w in app.sidebar.warning)
    assert not typo.exists() and app.session_state["workspace_root"] == workspace

    _visit_every_page(app)
    next(b for b in app.sidebar.button if b.label == "Create it").click().run()
    assert typo.is_dir() and app.session_state["workspace_root"] == str(typo)


def test_a_broken_active_state_shows_one_line_and_a_way_back(app: AppTest, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A model file that broke after it was chosen and a workspace path that became a file."""
    monkeypatch.setenv("UNLEARN_STUDIO_WORKSPACE", str(tmp_path / "default-ws"))
    broken = tmp_path / "gone.safetensors"
    broken.write_bytes(b"truncated")
    a_file = tmp_path / "was-a-folder"
    a_file.write_text("")
    app.session_state["model_ref"] = ModelRef("file", str(broken))
    app.session_state["workspace_root"] = str(a_file)
    shown = _visit_every_page(app)
    assert shown and all("\n" not in message for message in shown)
    assert any("was-a-folder is a file, not a folder" in message for message in shown), shown

    next(b for b in app.button if b.label == "Back to the defaults").click().run()
    assert app.session_state["workspace_root"] == str(tmp_path / "default-ws")
    app.session_state["model_ref"] = ModelRef("file", str(broken))  # now the model alone
    shown = _visit_every_page(app)
    assert any("gone.safetensors is not a readable safetensors checkpoint" in message for message in shown), shown
    assert all("\n" not in message for message in shown)
    assert list((tmp_path / "default-ws" / "logs").glob("app-*.log"))  # the boundary kept its traces there
    # Model & data (visited last) keeps the user's choice (issue 14) and says in one line why it cannot load;
    # choosing the shipped model there recovers.
    assert [e.value for e in app.error] == ["Could not load the model: gone.safetensors is not a readable safetensors "
                                            "checkpoint: Error while deserializing header: header too large"]
    next(r for r in app.radio if r.label == "Model source").set_value("Shipped default").run()
    assert not app.error, [e.value for e in app.error]
    assert {m.label: m.value for m in app.metric}["Architecture"] == "small_cnn"
