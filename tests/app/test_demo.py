"""A live class must not stumble: state is current in the same run, names are the user's, forms say
what is wrong. Each test pins one behaviour of issue 14 under Streamlit's AppTest."""

from __future__ import annotations

import pytest
import torch
from streamlit.testing.v1 import AppTest

from studio_ui.state import ForgetSelection


def sidebar_text(at: AppTest) -> str:
    return "\n".join(c.value for c in at.sidebar.caption)


def saved_sets(at: AppTest) -> list:
    from unlearn_core.workspace.store import Workspace

    return Workspace(at.session_state["workspace_root"]).list("forget_set")


def test_home_page_opens_with_three_ways_in(app: AppTest) -> None:
    assert app.title[0].value.endswith("Unlearning Studio")
    links = [link.proto.page for link in app.get("page_link")]
    assert any("tour" in p for p in links) and any("model_data" in p for p in links)
    assert any("benchmarks" in p for p in links)
    assert not app.number_input and not app.get("form")  # a home page, not a form


def test_sidebar_shows_the_forget_set_in_the_same_run(app: AppTest) -> None:
    app.switch_page("studio_ui/app_pages/forget_set.py").run()
    app.multiselect[0].select(3).run()
    app.button(key="use_classes").click().run()
    assert "Forget set: **class 3**" in sidebar_text(app)  # not one rerun behind
    assert any(s.value.startswith("Active forget set: class 3") for s in app.subheader)


def test_picked_counter_counts_every_tick(app: AppTest) -> None:
    app.switch_page("studio_ui/app_pages/forget_set.py").run()
    for i in (0, 1, 2):
        app.checkbox(key=f"pick_digits_{i}").check().run()
    assert {m.label: m.value for m in app.metric}["Picked"] == "3"
    app.button(key="use_picked").click().run()
    assert "Forget set: **3 picked images**" in sidebar_text(app)
    app.button(key="use_picked").click().run()
    assert saved_sets(app) == []  # using picks does not create saved sets; only "Save" names one


def test_saving_names_the_active_set_and_lists_it_at_once(app: AppTest) -> None:
    app.switch_page("studio_ui/app_pages/forget_set.py").run()
    app.multiselect[0].select(3).run()
    app.button(key="use_classes").click().run()
    name_box = next(t for t in app.text_input if t.label == "Name")
    name_box.input("the threes")  # a form: the value goes with the submit click
    next(b for b in app.button if b.label == "Save this forget set").click().run()
    assert not app.exception, app.exception
    assert app.session_state["forget_selection"] == ForgetSelection("class:3", "the threes")
    assert "Forget set: **the threes**" in sidebar_text(app)
    saved = next(s for s in app.selectbox if s.label == "Saved set")  # listed in the same run
    assert any(o.startswith("the threes") for o in saved.options)
    assert [e.name for e in saved_sets(app)] == ["the threes"]


def test_model_source_survives_a_visit_to_another_page(app: AppTest) -> None:
    from studio_ui.state import DataRef, ModelRef
    from unlearn_core.models.defaults import load_default
    from unlearn_core.workspace.store import Workspace

    model, meta = load_default("digits", device=torch.device("cpu"))
    entry = Workspace(app.session_state["workspace_root"]).save_model(model, meta, "my model")
    app.switch_page("studio_ui/app_pages/model_data.py").run()
    app.radio(key="model_source").set_value("From the workspace").run()
    assert app.session_state["model_ref"] == ModelRef("workspace", entry.id)
    app.switch_page("studio_ui/app_pages/forget_set.py").run()
    app.switch_page("studio_ui/app_pages/model_data.py").run()
    assert app.radio(key="model_source").value == "From the workspace"
    assert app.session_state["model_ref"] == ModelRef("workspace", entry.id)  # not silently the default
    assert app.session_state["data_ref"] == DataRef("digits")


@pytest.mark.slow  # cost: builds the shapes data
def test_dataset_switch_shows_in_the_sidebar_at_once(app: AppTest) -> None:
    app.switch_page("studio_ui/app_pages/model_data.py").run()
    app.selectbox(key="dataset_choice").select("shapes").run()
    assert not app.exception, app.exception
    assert "Dataset: **shapes**" in sidebar_text(app)


def test_unlearn_preselects_del_and_says_what_is_wrong(app: AppTest) -> None:
    app.session_state["forget_selection"] = ForgetSelection("class:3", "the threes")
    app.switch_page("studio_ui/app_pages/unlearn.py").run()
    method = next(s for s in app.selectbox if s.label == "Method")
    assert method.value == "del"
    assert "Retrain (oracle): the reference, not an unlearning method" in method.options
    assert any("**the threes**" in m.value for m in app.markdown)  # the name, not the spec
    app.number_input(key="cfg_del_epochs").set_value(-1)  # a form: the values go with the submit click (0 = auto)
    app.number_input(key="cfg_del_lr").set_value(-1.0)
    next(b for b in app.button if b.label == "Run").click().run()
    errors = [e.value for e in app.error]
    assert "epochs must be at least 0 (you entered -1)." in errors  # next to the field
    assert any(e.startswith("lr must be at least") and "you entered -1" in e for e in errors)
    assert "my_runs" not in app.session_state  # nothing started
