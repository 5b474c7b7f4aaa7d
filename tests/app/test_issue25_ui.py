"""Issue 25, item 3: the defects a user hit, each under AppTest (digits, no background run needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio_ui.state import ForgetSelection


def _use_forget_set(app: AppTest, spec: str, description: str) -> None:
    app.session_state["forget_selection"] = ForgetSelection(spec, description)


def test_del_form_shows_resolved_auto_values(app: AppTest) -> None:
    """DEL's budget / epochs / lr / batch size read "auto (value)" for the forget set, never 0."""
    _use_forget_set(app, "class:3", "class 3")
    app.switch_page("studio_ui/app_pages/unlearn.py").run()
    assert not app.exception, app.exception
    fields = {n.label: n for n in app.number_input}
    assert fields["budget"].value is None
    assert fields["budget"].proto.placeholder == "auto (0.30)"
    for name in ("epochs", "lr", "batch_size"):
        assert fields[name].proto.placeholder.startswith("auto ("), name
        assert fields[name].proto.placeholder != "auto (0)", name
    _use_forget_set(app, "random:0.1", "random 10%")
    app.run()
    assert {n.label: n for n in app.number_input}["budget"].proto.placeholder == "auto (0.10)"


def test_concept_poisoning_form_has_no_minus_one(app: AppTest) -> None:
    _use_forget_set(app, "class:3", "class 3")
    app.switch_page("studio_ui/app_pages/unlearn.py").run()
    app.selectbox[[s.label for s in app.selectbox].index("Method")].select("concept_poisoning").run()
    assert not app.exception, app.exception
    donor = {n.label: n for n in app.number_input}["donor_class"]
    assert donor.value is None and "auto" in donor.proto.placeholder


def test_benchmarks_page_reads_cleanly(app: AppTest) -> None:
    """No raw HTML comment, tables that wrap to their column, methods by their registry titles."""
    from unlearn_core.methods import list_methods

    app.switch_page("studio_ui/app_pages/benchmarks.py").run()
    assert not app.exception, app.exception
    text = "\n".join(m.value for m in app.markdown)
    assert "<!--" not in text and "-->" not in text
    frames = [t.value for t in app.table]
    assert frames, "the tables are shown as static tables (they wrap to the column's width)"
    methods = {c for f in frames if f.index.name == "method" for c in f.index}
    ids = {m.name for m in list_methods()}
    assert not methods & ids, methods & ids  # no raw method id
    assert "DEL" in methods and "SalUn" in methods  # registry titles (their short form)


@pytest.mark.slow  # builds the shapes data and its concept bank
def test_forget_every_red_updates_the_sidebar_at_once(app: AppTest) -> None:
    """Concepts → "Forget every red sample": the sidebar names the new forget set in the same run."""
    from studio_ui.state import DataRef

    app.session_state["data_ref"] = DataRef("shapes")
    app.switch_page("studio_ui/app_pages/concepts.py").run()
    assert not app.exception, app.exception
    value = next(s for s in app.selectbox if s.label == "Value")
    value.select("red").run()
    app.button(key="forget_concept").click().run()
    assert not app.exception, app.exception
    assert app.session_state["forget_selection"].spec == "concept:color=red"
    sidebar = " ".join(c.value for c in app.sidebar.caption)
    assert "every red (color) sample" in sidebar, sidebar


def test_selection_survives_a_reload(app: AppTest) -> None:
    """After a reload (a new session on the same workspace) the dataset, model and forget set are restored."""
    import streamlit as st

    app.switch_page("studio_ui/app_pages/forget_set.py").run()
    app.multiselect[0].select(3).run()
    app.button(key="use_classes").click().run()
    assert app.session_state["forget_selection"].spec == "class:3"

    st.cache_resource.clear()
    st.cache_data.clear()
    reloaded = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=240)
    reloaded.session_state["workspace_root"] = app.session_state["workspace_root"]
    reloaded.run()
    assert not reloaded.exception, reloaded.exception
    assert reloaded.session_state["forget_selection"].spec == "class:3"
    assert "class 3" in " ".join(c.value for c in reloaded.sidebar.caption)


def test_saved_selection_round_trip(tmp_path) -> None:
    from studio_ui.state import DataRef, ForgetSelection, ModelRef, load_selection, save_selection

    save_selection(tmp_path, DataRef("mnist", (("root", "/data/mnist"),)), ModelRef("workspace", "m1"),
                   ForgetSelection("class:3", "threes"))
    got = load_selection(tmp_path)
    assert got["data_ref"] == DataRef("mnist", (("root", "/data/mnist"),))
    assert got["model_ref"] == ModelRef("workspace", "m1")
    assert got["forget_selection"] == ForgetSelection("class:3", "threes")
    (tmp_path / "studio_selection.json").write_text("{broken")
    assert load_selection(tmp_path) == {}


def test_workspace_oracle_is_never_picked_silently(app: AppTest) -> None:
    """A stored retrained oracle comes after the trained models and warns when chosen."""
    import torch

    from unlearn_core.models.defaults import load_default
    from unlearn_core.workspace.store import Workspace

    workspace = Workspace(app.session_state["workspace_root"])
    model, meta = load_default("digits", device=torch.device("cpu"))
    workspace.save_model(model, meta, "small_cnn on digits seed 0")
    workspace.save_model(model, meta, "retrain digits class:3 seed 0", info={"forget": "class:3"})  # newest

    app.switch_page("studio_ui/app_pages/model_data.py").run()
    app.radio(key="model_source").set_value("From the workspace").run()
    assert not app.exception, app.exception
    picker = next(s for s in app.selectbox if s.label == "Stored model")
    assert "retrained" not in str(picker.format_func(picker.value))
    assert not any("retrained reference model" in w.value for w in app.warning)
    picker.select_index(1).run()
    assert any("retrained reference model" in w.value and "class:3" in w.value for w in app.warning)


def _slider(app: AppTest, label: str):
    return next(s for s in app.slider if s.label.startswith(label))


def test_localization_starts_at_the_budget_del_uses(app: AppTest) -> None:
    """A sample forget set: DEL resolves 0.10, so the page starts there (not at the paper's 0.30)."""
    _use_forget_set(app, "random:0.1", "random 10%")
    app.switch_page("studio_ui/app_pages/localization.py").run()
    assert not app.exception, app.exception
    assert _slider(app, "Budget").value == 0.10
    assert any("DEL's auto budget" in c.value for c in app.caption)


def test_localization_shows_the_mask_a_del_run_used(app: AppTest) -> None:
    """A stored DEL run on class 3 that used budget 0.10: the page starts at its settings and its stored mask
    matches heatmap A (Jaccard 1.00)."""
    import torch

    from unlearn_core.data import load_dataset
    from unlearn_core.forget import UnlearnData, resolve
    from unlearn_core.localize import localize
    from unlearn_core.models import state_digest
    from unlearn_core.models.defaults import load_default
    from unlearn_core.workspace.store import Workspace

    data = load_dataset("digits")
    model, meta = load_default("digits", device=torch.device("cpu"))
    mask = localize(model, UnlearnData(data, resolve("class:3", data)), localizer="del", budget=0.1,
                    device=torch.device("cpu"))
    summary = {"method": "del", "forget": "class:3", "seed": 0, "dataset": "digits", "model_digest": state_digest(model)}
    Workspace(app.session_state["workspace_root"]).save_run(
        summary, model, meta, mask=mask.masks,
        artifacts={"resolved": {"budget": 0.1}, "localization": mask.summary()})
    _use_forget_set(app, "class:3", "class 3")
    app.switch_page("studio_ui/app_pages/localization.py").run()
    assert not app.exception, app.exception
    assert _slider(app, "Budget").value == 0.10
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Overlap of that mask with A (Jaccard)"] == "1.00"
    assert metrics["Entries the DEL run reset (its stored mask)"] == metrics["Entries selected (each mask)"]


def test_tour_estimate_says_what_it_is_based_on(app: AppTest) -> None:
    app.switch_page("studio_ui/app_pages/tour.py").run()
    assert not app.exception, app.exception
    estimate = next(c.value for c in app.caption if "Takes about" in c.value)
    assert "timed in a browser by benchmarks/ui_latency.py" in estimate
    assert "from the benchmark table (digits class:3" in estimate and "idle 2-core" not in estimate


def test_model_source_choice_survives_another_page(app: AppTest) -> None:
    """Choosing "Checkpoint file" (then a refused file, or none yet) and visiting another page: the radio keeps
    the choice instead of snapping back, and says which model stays active meanwhile."""
    app.switch_page("studio_ui/app_pages/model_data.py").run()
    app.radio(key="model_source").set_value("Checkpoint file").run()
    app.switch_page("studio_ui/app_pages/forget_set.py").run()
    app.switch_page("studio_ui/app_pages/model_data.py").run()
    assert not app.exception, app.exception
    assert app.radio(key="model_source").value == "Checkpoint file"
    assert any("stays the shipped default model" in c.value for c in app.caption)


def test_compare_flags_a_run_that_forgot_nothing(app: AppTest, digits_external_run) -> None:
    """The stored external run whose "unlearned" model is the original itself (forget accuracy 100% against the
    retrained model's 0%): Compare flags the failed forget and states the rule."""
    root, _ = digits_external_run
    app.session_state["workspace_root"] = str(root)
    app.switch_page("studio_ui/app_pages/compare.py").run()
    assert not app.exception, app.exception
    flags = [w.value for w in app.warning if w.value.startswith("Failed to forget")]
    assert len(flags) == 1 and "closer to the original model's" in flags[0], [w.value for w in app.warning]
    assert "Unlearned elsewhere (external checkpoint)" in " ".join(m.value for m in app.markdown)


def test_unlearn_run_card_flags_a_run_that_forgot_nothing(app: AppTest, digits_external_run, tmp_path) -> None:
    """The same run as a finished run card on Unlearn (its record added to a copy of the workspace)."""
    import shutil

    import unlearn_core.runs.records as run_records
    from unlearn_core.workspace.store import Workspace

    source, run_id = digits_external_run
    root = tmp_path / "copy"
    shutil.copytree(source, root)
    workspace = Workspace(root)
    run_records.create(workspace, run_id, "Unlearned elsewhere (external checkpoint): same.safetensors",
                       {"method": "external", "forget": "class:3", "dataset": "digits"})
    run_records.finish(workspace, run_id, "done")
    app.session_state["workspace_root"] = str(root)
    _use_forget_set(app, "class:3", "class 3")
    app.switch_page("studio_ui/app_pages/unlearn.py").run()
    assert not app.exception, app.exception
    assert any(w.value.startswith("Failed to forget") for w in app.warning), [w.value for w in app.warning]
    assert any("done in" in m.value for m in app.markdown)  # the card's status line
