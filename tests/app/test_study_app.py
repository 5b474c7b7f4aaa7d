"""Compare's seed-study views (issue 22): the stored study of a run's request as bands per metric
with the unlearned seeds, F beside its reference with the per-example ε histogram, the most
distinguishable forget examples; the noise-aware headline; and the "Run a seed study" button,
which starts a tracked study run (cancelled here at once)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import unlearn_core.runs.records as run_records
from tests.study_fixture import K, StudyWorkspace, build, cancel_active_runs
from unlearn_core.workspace.store import Workspace

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240


@pytest.fixture(scope="module")
def study_ws(tmp_path_factory: pytest.TempPathFactory) -> StudyWorkspace:
    return build(tmp_path_factory.mktemp("study_ws") / "workspace")


def _compare(root: Path, run_id: str) -> AppTest:
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.session_state["workspace_root"] = str(root)
    at.session_state["compare_run"] = run_id
    at.run()
    at.switch_page("studio_ui/app_pages/compare.py").run()
    assert not at.exception, at.exception
    return at


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_stored_study_shows_bands_dots_and_verdicts(study_ws: StudyWorkspace) -> None:
    at = _compare(study_ws.root, study_ws.studied_run)
    assert "Against retraining's own spread (seed study)" in [s.value for s in at.subheader]
    study = Workspace(study_ws.root).get(study_ws.study_id).info
    bands = next(f for f in _figures(at) if f["layout"].get("yaxis", {}).get("ticktext") == ["retrained", "unlearned"])
    titles = [a["text"] for a in bands["layout"]["annotations"]]
    assert titles[0] == "Forget accuracy: OUTSIDE retraining's spread"  # the stored verdict, per metric
    assert "Retain accuracy: within retraining's spread" in titles
    dots = [t for t in bands["data"] if t.get("name") == "unlearned runs (K seeds)"]
    assert len(dots) == len(study["verdict"]) and all(len(t["x"]) == K for t in dots)
    assert sorted(dots[0]["x"]) == pytest.approx(sorted(100 * v for v in study["unlearned"]["forget_acc"]["values"]))
    bands_rects = [s for s in bands["layout"]["shapes"] if s["type"] == "rect"]
    retain = study["retrain"]["retain_acc"]["values"]
    assert any(r["x0"] == pytest.approx(100 * min(retain)) and r["x1"] == pytest.approx(100 * max(retain))
               for r in bands_rects)  # the band is the retrained models' min-max
    assert any("minimum to maximum" in c.value or "lowest to the highest" in c.value for c in at.caption)
    assert any("permutation test" in m.value and "false miss" in m.value for m in at.markdown)  # the rule stated
    assert any("OUTSIDE retraining's spread" in e.value for e in at.error)  # the overall verdict


def test_stored_study_shows_f_its_reference_and_the_epsilon_histogram(study_ws: StudyWorkspace) -> None:
    at = _compare(study_ws.root, study_ws.studied_run)
    study = Workspace(study_ws.root).get(study_ws.study_id).info
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Forgetting quality F"] == f"{study['forgetting_quality']:.3f}"
    assert metrics[f"Reference: retraining vs retraining at K = {K}"] == f"{study['forgetting_quality_null']:.3f}"
    eps = next(f for f in _figures(at) if f["data"] and f["data"][0].get("type") == "bar"
               and str(f["data"][0]["x"][0]).startswith("0–"))
    counts = eps["data"][0]["y"]
    assert sum(counts) == study_ws.n_forget  # every forget example in one bar
    separable = sum(1 for p in study["per_example"] if p["epsilon"] >= 2.0)
    assert counts[-1] == separable and separable >= study_ws.n_forget // 2  # the planted half
    assert any("Each forget example gets an ε" in c.value for c in at.caption)
    # the most distinguishable examples: their images, captioned with index and ε, and their scores
    shown = {i.caption for im in at.get("image") for i in im.proto.imgs}
    planted = {f"#{p['index']} · ε max" for p in study["per_example"][: study_ws.n_forget // 2]}
    assert len(shown & planted) == 8  # eight images, all from the planted half (ε at the cap)
    assert "The most distinguishable forget examples" in " ".join(m.value for m in at.markdown)
    examples = next(f for f in _figures(at) if f["layout"].get("yaxis", {}).get("title", {}).get("text")
                    == "log(p_y / (1 − p_y))")
    assert {t["name"] for t in examples["data"]} == {"unlearned models", "retrained models"}
    assert all(len(t["y"]) == 8 * K for t in examples["data"])


def test_noise_aware_headline_on_compare_and_history(study_ws: StudyWorkspace) -> None:
    at = _compare(study_ws.root, study_ws.plain_run)  # another method setting: the floor still applies
    study = Workspace(study_ws.root).get(study_ws.study_id).info
    floor = f"floor {study['noise_floor']['avg_gap']:.2f} pts, K = {K} seeds"
    headline = next(m.value for m in at.markdown if m.value.startswith("**Closeness to retraining**"))
    assert "retraining vs retraining: " + floor in headline
    assert "seed study (K" not in headline  # no study of this method's settings: no verdict, no "miss"
    history = at.table[-1].value
    cells = history["avg gap, points (retraining vs retraining)"].tolist()
    assert all(f"floor {study['noise_floor']['avg_gap']:.2f}, K = {K}" in c for c in cells)
    assert any("outside the spread" in c for c in cells)  # the studied run's verdict


@pytest.mark.slow  # cost: starts a worker process (cancelled at once)
def test_study_button_starts_a_tracked_study_run_with_its_cost(study_ws: StudyWorkspace) -> None:
    at = _compare(study_ws.root, study_ws.plain_run)
    assert any("No seed study of this request yet" in i.value for i in at.info)
    at.radio(key="cmp_k").set_value(K).run()
    plain = Workspace(study_ws.root).get(study_ws.plain_run).info
    expected = (K - 1) * (plain["time_s"] + plain["retrain_time_s"])  # member 0 (the run itself) is stored
    cost = next(c.value for c in at.caption if "less 1 member(s) already stored" in c.value)
    assert f"{K} × (retraining {plain['retrain_time_s']:.1f} s" in cost
    assert (f"about {expected:.0f} s" if expected < 120 else f"about {expected / 60:.0f} min") in cost
    at.button(key="cmp_start").click().run()
    workspace = Workspace(study_ws.root)
    try:
        (row,) = [r for r in run_records.list_runs(workspace) if r.request.get("study_k")]
        assert row.request["study_k"] == K and row.request["method"] == "finetune"
        assert row.request["config"] == plain["config"] and row.request["forget"] == "class:3"
        assert not at.exception
        assert len(at.get("progress")) >= 1  # live progress of the study run, with its cancel button
        at.button(key=f"cmp_study_cancel_{row.id}").click().run()
        assert run_records.get(workspace, row.id).cancel_requested
    finally:
        cancel_active_runs(workspace, wait_s=120)
