"""Compare under AppTest: the chosen run stays after another page (issue 25, item 3), the relearn
figures the page shows are the report's, and A vs B on two cheap digits runs (issue 25, item 1):
the metric table with both runs and retraining, the three prediction matrices, the shared sample
highlighted in both projections, the disagreement list with its images, the two studies' test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.study_fixture import METHOD, StudyWorkspace, build, save_synthetic_study

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> StudyWorkspace:
    """Two fine-tune runs on digits class:3 (1 and 2 epochs) with a synthetic study of each."""
    from unlearn_core.data import load_dataset
    from unlearn_core.methods import get_method
    from unlearn_core.workspace.store import Workspace

    ws = build(tmp_path_factory.mktemp("versus_app") / "workspace")
    workspace = Workspace(ws.root)
    save_synthetic_study(workspace, load_dataset("digits"), workspace.get(ws.plain_run).info, METHOD,
                         get_method(METHOD).config_cls(epochs=2))
    return ws


def _app(root: Path, **state) -> AppTest:
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["workspace_root"] = str(root)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    assert not any("Could not" in e.value for e in at.error), [e.value for e in at.error]
    return at


def test_the_chosen_run_stays_after_visiting_another_page(two_runs: StudyWorkspace) -> None:
    # the run Compare opens with is the newest (or the last one opened from Unlearn); the user picks the other
    at = _app(two_runs.root, compare_runs=[two_runs.plain_run])
    _ok(at.switch_page("studio_ui/app_pages/compare.py").run())
    picker = at.selectbox(key="compare_run")
    assert picker.value == two_runs.plain_run
    picker.set_value(two_runs.studied_run).run()
    _ok(at)
    _ok(at.switch_page("studio_ui/app_pages/home.py").run())  # another page: Streamlit drops the picker's widget state
    _ok(at.switch_page("studio_ui/app_pages/compare.py").run())
    assert at.selectbox(key="compare_run").value == two_runs.studied_run


def test_relearn_figures_on_the_page_are_the_reports(digits_external_run) -> None:
    from studio_ui.html_report import run_report_html
    from unlearn_core.inspect.relearn import relearn_summary

    root, run_id = digits_external_run
    at = _app(root, compare_run=run_id)
    _ok(at.switch_page("studio_ui/app_pages/compare.py").run())
    at.button(key="insp_relearn_run").click().run()
    _ok(at)
    table = next(f.value for f in at.dataframe if "steps to relearn" in " ".join(f.value.columns))
    relearn = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "Relearn test" in c.proto.spec)
    curves = {t["name"]: t["y"] for t in relearn["data"]}
    stored = {"steps": list(range(len(curves["original"]))), **curves, "shots": 16}
    summary = relearn_summary(stored)
    for who, row in table.set_index("model").iterrows():
        assert row["steps to relearn"] == summary[who]["steps_text"]
        assert row["forget accuracy after relearning"] == summary[who]["final_text"]
    info = at.session_state["compare_run"]
    from unlearn_core.workspace.store import Workspace

    s = Workspace(root).get(info).info
    report = run_report_html(run_id, s, __import__("pandas").DataFrame({"metric": []}), [],
                             {"layers": [], "prediction_matrix": {}, "classes": [], "probe": {"what": "x"},
                              "relearn": stored})
    for who in summary:
        assert summary[who]["steps_text"] in report and summary[who]["final_text"] in report
    assert "steps to relearn" in report


def test_a_vs_b_table_matrices_projection_and_disagreement(two_runs: StudyWorkspace) -> None:
    from unlearn_core.workspace.store import Workspace

    workspace = Workspace(two_runs.root)
    a, b = (workspace.get(r).info for r in (two_runs.studied_run, two_runs.plain_run))
    at = _app(two_runs.root, compare_run=two_runs.studied_run)
    _ok(at.switch_page("studio_ui/app_pages/compare.py").run())
    picker = at.selectbox(key="compare_run_b")
    assert picker.options[1:] == [two_runs.plain_run] or two_runs.plain_run in str(picker.options)
    picker.set_value(two_runs.plain_run).run()
    _ok(at)

    # the metric table: both runs' stored figures and retraining's
    table = next(t.value for t in at.table if "closer to retraining" in t.value.columns)
    forget = table.loc["Forget accuracy"] if "Forget accuracy" in table.index else table.iloc[0]
    assert forget.iloc[0] == f"{100 * a['details']['unlearned']['forget_acc']:.1f}%"
    assert forget.iloc[1] == f"{100 * b['details']['unlearned']['forget_acc']:.1f}%"
    assert forget["retrained"] == f"{100 * a['details']['retrain']['forget_acc']:.1f}%"
    assert table.columns[0].startswith("A: ") and table.columns[1].startswith("B: ")

    figures = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    matrices = next(f for f in figures.values() if "Prediction matrices" in f["layout"]["title"]["text"])
    heatmaps = [t for t in matrices["data"] if t["type"] == "heatmap"]
    assert len(heatmaps) == 3  # original -> A, original -> B, original -> retrained
    assert all(sum(map(sum, h["z"])) == two_runs.n_forget for h in heatmaps)

    # the disagreement list, its images, and the chosen sample starred in both projection panels
    listed = next(f.value for f in at.dataframe if "|scaled A − scaled B|" in f.value.columns)
    assert len(listed) == 15
    # (the list's images are checked in the browser test: AppTest does not expose st.image)
    positions = at.session_state["vs_disagree_positions"]
    assert at.session_state["vs_pos"] == positions[0]  # the most disputed sample is chosen first
    at.selectbox(key="vs_pos").set_value(positions[3]).run()  # what a click on the fourth row does
    _ok(at)
    projection = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "shared PCA" in c.proto.spec)
    stars = [t for t in projection["data"] if t.get("marker", {}).get("symbol") == "star"]
    assert len(stars) == 2 and {t["xaxis"] for t in stars} == {"x", "x2"}  # one star in each panel
    assert listed.iloc[3]["sample"] in projection["layout"]["title"]["text"]

    # both studies exist (synthetic, same values): the permutation test says they do not differ
    assert any("do not differ beyond noise" in i.value for i in at.info)
    assert any("permutation test" in c.value for c in at.caption)
