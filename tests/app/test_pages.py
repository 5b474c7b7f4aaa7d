"""The pages under Streamlit's AppTest, through the real library on digits."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from studio_ui.labels import metric_label


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [m.label + " " + str(m.value) for m in at.metric]
    parts += [s.value for s in at.subheader] + [t.value for t in at.title]
    return "\n".join(parts)


def test_model_data_page_shows_default_model(app: AppTest) -> None:
    app.switch_page("studio_ui/app_pages/model_data.py").run()
    assert "Model & data" in texts(app)
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Train images"] == "1438"
    assert metrics["Architecture"] == "small_cnn"
    assert float(metrics["Test accuracy"].rstrip("%")) >= 95.0
    assert len(app.get("plotly_chart")) >= 1  # per-class accuracy chart
    assert len(app.get("imgs")) >= 1 or len(app.image) >= 1


def test_bad_dataset_folder_gets_a_message(app: AppTest) -> None:
    app.switch_page("studio_ui/app_pages/model_data.py").run()
    app.selectbox(key="dataset_choice").select("mnist").run()
    folder = [t for t in app.text_input if t.label == "Dataset folder"][0]
    folder.input("/nonexistent/folder").run()
    assert not app.exception
    assert any("expected" in e.value.lower() or "not found" in e.value.lower() for e in app.error), [e.value for e in app.error]


@pytest.mark.slow  # trains a retrained oracle and runs a method in the background
def test_forget_unlearn_compare_flow(app: AppTest, wait_for_jobs) -> None:
    app.switch_page("studio_ui/app_pages/forget_set.py").run()
    assert not app.exception, app.exception
    app.multiselect[0].select(3).run()
    app.button(key="use_classes").click().run()
    assert app.session_state["forget_selection"].spec == "class:3"
    assert any(m.label == "Forget" and m.value == "146" for m in app.metric)

    app.switch_page("studio_ui/app_pages/unlearn.py").run()
    assert not app.exception, app.exception
    method = app.selectbox[[s.label for s in app.selectbox].index("Method")]
    method.select("finetune").run()
    next(b for b in app.button if b.label == "Run").click().run()
    wait_for_jobs(app)
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    run_ids = app.session_state["compare_runs"]
    assert len(run_ids) == 1

    app.switch_page("studio_ui/app_pages/compare.py").run()
    assert not app.exception, app.exception
    page = texts(app)
    assert "Fine-tune" in page and "class 3" in page  # the method's title and the forget set's name
    tables = app.table
    assert len(tables) >= 2  # metrics table and history
    metrics = tables[0].value
    assert metrics.loc[metric_label("forget_test_acc"), "retrain"] == "0.0%"  # one formatter for every figure
    assert len(app.get("plotly_chart")) >= 3  # per-class bars, embedding, MIA histogram
    downloads = [b.proto.label for b in app.get("download_button")]
    assert "Download this run as an HTML report" in downloads, downloads


def _del_vs_salun_jaccard() -> str:
    """The page's default comparison (DEL vs SalUn at 30% on the shipped digits model, class 3), computed
    with the library directly and formatted as the page shows it."""
    import torch

    from unlearn_core.data import load_dataset
    from unlearn_core.forget import resolve
    from unlearn_core.localize import localize, mask_overlap
    from unlearn_core.methods import UnlearnData
    from unlearn_core.models.defaults import load_default

    data = load_dataset("digits")
    cpu = torch.device("cpu")
    model, _ = load_default("digits", device=cpu)
    unlearn = UnlearnData(data, resolve("class:3", data))
    a, b = (localize(model, unlearn, localizer=n, budget=0.3, device=cpu) for n in ("del", "salun"))
    return f"{mask_overlap(a, b):.2f}"


def test_localization_page(app: AppTest) -> None:
    from studio_ui.state import ForgetSelection

    app.session_state["forget_selection"] = ForgetSelection("class:3", "class 3")
    app.switch_page("studio_ui/app_pages/localization.py").run()
    assert not app.exception, app.exception
    metrics = {m.label: m.value for m in app.metric}
    total = int(metrics["Entries selected (each mask)"].split(" of ")[1].replace(",", ""))
    selected = int(metrics["Entries selected (each mask)"].split(" of ")[0].replace(",", ""))
    assert selected == round(0.30 * total)  # the default budget, exactly
    assert metrics["Overlap of A and B (Jaccard)"] == _del_vs_salun_jaccard()  # what the library computes
    assert float(metrics["Largest move / ε"]) <= 1.0 + 1e-6  # Partial-PGD stays inside the ε-ball
    assert len(app.get("plotly_chart")) >= 6  # two heatmaps, layer bars, arrows, classes, dimensions


@pytest.mark.slow  # cost: builds the shapes data and its concept bank
def test_concepts_page_on_shapes(app: AppTest) -> None:
    from studio_ui.state import DataRef

    app.session_state["data_ref"] = DataRef("shapes")
    app.switch_page("studio_ui/app_pages/concepts.py").run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    metrics = {m.label: m.value for m in app.metric}
    assert float(metrics["Original model"].rstrip("%")) >= 90
    assert "Random directions (control)" in metrics
    assert len(app.get("plotly_chart")) >= 3  # IG heatmap, probe bars, bottleneck weights
    app.button(key="forget_concept").click().run()
    assert app.session_state["forget_selection"].spec.startswith("concept:color=")
    assert any("Poisoning plan" in m.value for m in app.markdown)


def test_concepts_page_explains_missing_concepts(app: AppTest) -> None:
    app.switch_page("studio_ui/app_pages/concepts.py").run()
    assert not app.exception
    assert any("no concept labels" in i.value for i in app.info)


@pytest.mark.slow  # trains a retrained oracle and runs a method in the background
def test_guided_tour_runs_the_whole_story(app: AppTest, wait_for_jobs) -> None:
    app.switch_page("studio_ui/app_pages/tour.py").run()
    assert not app.exception, app.exception
    assert any("Press **Run the tour**" in i.value for i in app.info)  # nothing computed before the click
    assert any("timed in a browser by benchmarks/ui_latency.py" in c.value for c in app.caption)  # and from what
    app.button(key="tour_start").click().run()
    assert app.session_state["forget_selection"].spec == "class:3"  # every page now follows the tour
    assert len(app.session_state["my_runs"]) == 2  # DEL and RFA, started together: RFA's run trains the retrained model beside DEL, which then finds it
    wait_for_jobs(app)
    app.run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    table = app.dataframe[0].value
    assert list(table.columns) == ["original", "DEL", "RFA", "retrained (reference)"]  # the fast method beside DEL
    assert float(table.loc["test images of 3s", "retrained (reference)"].rstrip("%")) == 0.0
    assert float(table.loc["test images of 3s", "DEL"].rstrip("%")) <= 5.0  # DEL forgot the 3s
    assert float(table.loc["test images of 3s", "RFA"].rstrip("%")) <= 5.0
    assert float(table.loc["test images of other digits", "DEL"].rstrip("%")) >= 95.0
    assert "Forgetting" in texts(app) and len(app.get("plotly_chart")) >= 2  # layer shares, per-class bars
    assert any("this run:" in i.value and "10 hours" in i.value for i in app.info)  # why it pays, this run's figures
    assert any("last tour run in this workspace" in c.value for c in app.caption)  # the estimate now measured here
    assert app.button(key="tour_start").label == "Run the tour again"  # the stored run is found, not recomputed
