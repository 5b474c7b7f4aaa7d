"""Compare's inspection sections under AppTest, on a stored run whose unlearned model is the
original itself (an external checkpoint): every figure then has a known answer."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

SECTIONS = ("Layer by layer: is it gone from the representation?", "Where the forgotten samples go",
            "Membership attack at a threshold you choose", "Sample by sample", "Erasure beyond the outputs")


def _open_compare(app: AppTest, root: Path) -> AppTest:
    app.session_state["workspace_root"] = str(root)
    app.switch_page("studio_ui/app_pages/compare.py").run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    return app


def test_inspection_sections_with_known_answers(app: AppTest, digits_external_run) -> None:
    root, run_id = digits_external_run
    app = _open_compare(app, root)
    subheaders = [s.value for s in app.subheader]
    for section in SECTIONS:
        assert section in subheaders, subheaders
    assert any("Unlearned elsewhere" in c.value for c in app.caption)
    charts = {c.proto.id for c in app.get("plotly_chart")}
    assert len(charts) >= 3 + 8  # the page's three + CKA, 2 matrices, attack histogram, scatter, 3 IG maps, probe

    attack = next(f.value for f in app.dataframe if "attack accuracy" in f.value.columns)
    rows = attack.set_index("model")
    assert rows.loc["unlearned"].tolist() == rows.loc["original"].tolist()  # the same model
    lowest = app.slider(key="insp_thr_scaled")
    lowest.set_value(lowest.min).run()  # every sample called member (scaled confidence at least the minimum)
    attack = next(f.value for f in app.dataframe if "attack accuracy" in f.value.columns).set_index("model")
    for who in ("original", "unlearned", "retrain"):
        assert attack.loc[who].tolist() == ["50.0%", "100.0%", "100.0%"]


def test_drilldown_follows_the_chosen_sample_and_relearn_waits_for_the_button(app: AppTest, digits_external_run) -> None:
    root, _ = digits_external_run
    app = _open_compare(app, root)
    remembered = next(f.value for f in app.dataframe if "excess" in f.value.columns)
    assert len(remembered) == 15  # the original remembers every 3 that the retrained model misses
    top = remembered.iloc[0]["sample"]
    positions = app.session_state["insp_remembered_positions"]
    picker = app.selectbox(key="insp_pos")
    assert picker.options[positions[0]].startswith(top + " ")  # the first row is that sample
    picker.set_value(positions[0]).run()  # what a click on the first row does (AppTest cannot click a table)
    assert not app.exception, app.exception
    drill = next(f.value for f in app.dataframe if "membership score" in f.value.columns).set_index("model")
    assert drill.loc["unlearned"].tolist() == drill.loc["original"].tolist()
    assert drill.loc["original", "prediction"] == "3" and drill.loc["retrain", "prediction"] != "3"

    assert not any(c.proto.id for c in app.get("plotly_chart") if "Relearn" in str(c.proto.spec))
    assert any("Estimated" in c.value for c in app.caption)
    app.button(key="insp_relearn_run").click().run()
    assert not app.exception, app.exception
    assert any("Relearn test" in str(c.proto.spec) for c in app.get("plotly_chart"))
