"""A run judged against retraining's own seed-to-seed spread: the stored seed study of its request
(`unlearn_core.study`), or a button that runs one in the background, and the noise-aware headline
("gap X (retraining vs retraining: floor Y, K seeds)") every page shows beside a run's average gap.

The lookups (`study_of_run`, `gap_headline`, `study_cost_s`, `verdict_frame`) are plain functions of
stored results; `study_panel` and `render_study` lay them out on a page (Compare, the tour).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

import unlearn_core.runs.records as run_records
from unlearn_core.data import SplitDataset
from unlearn_core.runs.records import RunRow
from unlearn_core.runs.worker import RunRequest
from unlearn_core.serialize import to_jsonable
from unlearn_core.workspace.store import Entry, Workspace
from unlearn_core.workspace.studies import REQUEST_FIELDS, stored_noise_floor, studies_for

from . import jobs
from .error_boundary import error_boundary
from .labels import metric_label
from .resources import get_study_scores
from .run_list import run_status
from .state import workspace_root
from .study_charts import (
    BANDS_CAPTION,
    EPSILON_CAPTION,
    EXAMPLES_CAPTION,
    VERDICT_WORDS,
    bands_figure,
    epsilon_figure,
    examples_figure,
    most_distinguishable,
)

K_CHOICES = (4, 8, 16)
DEFAULT_K = 8
POLL_S = 1.0
N_EXAMPLES = 8


def _same_config(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two stored method settings are the same (compared as canonical JSON)."""
    canon = lambda c: json.dumps(to_jsonable(dict(c or {})), sort_keys=True)  # noqa: E731
    return canon(a) == canon(b)


def _same_method(stored: Mapping[str, Any], summary: Mapping[str, Any]) -> bool:
    """Same method, settings and revision of its auto defaults (`MethodInfo.defaults_revision`)."""
    return (stored.get("method") == summary.get("method") and _same_config(stored.get("config"), summary.get("config"))
            and stored.get("method_revision", 1) == summary.get("method_revision", 1))


def study_of_run(workspace: Workspace, summary: Mapping[str, Any]) -> Entry | None:
    """The newest stored seed study of this run's request with the same method and settings, or None."""
    if not all(f in summary for f in REQUEST_FIELDS):
        return None
    return next((e for e in studies_for(workspace, summary) if _same_method(e.info, summary)), None)


def noise_floor_of(workspace: Workspace, summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """Retraining's seed-to-seed spread for this run's request, looked up now (a study made after
    the run counts), or None: no study of the request yet, or a run stored without its request."""
    if not all(f in summary for f in REQUEST_FIELDS):
        return None
    return stored_noise_floor(workspace, summary)


def gap_headline(summary: Mapping[str, Any], floor: Mapping[str, Any] | None,
                 study: Mapping[str, Any] | None = None, *, compact: bool = False) -> str:
    """The run's average gap with retraining's own gap beside it, e.g. "gap 0.42 pts (retraining vs
    retraining: floor 0.14 pts, K = 4 seeds)"; the gap without at-chance attacks when it differs,
    and the verdict of a seed study of the same method (`study`, its result) when there is one: a
    miss is only called a miss outside retraining's spread. `compact` gives a table cell, e.g.
    "0.42 (floor 0.14, K = 4)"."""
    gap = summary.get("avg_gap")
    informative = summary.get("avg_gap_informative")
    differs = informative is not None and gap is not None and abs(informative - gap) > 0.005
    if compact:
        cell = "–" if gap is None else f"{gap:.2f}"
        notes = [f"floor {floor['avg_gap']:.2f}, K = {floor['k']}"] if floor and floor.get("avg_gap") is not None else []
        if differs:
            notes.append(f"{informative:.2f} without MIA at chance")
        if study is not None:
            notes.append(study["verdict_overall"] + " the spread")
        return cell + (f" ({'; '.join(notes)})" if notes else "")
    text = "gap –" if gap is None else f"gap {gap:.2f} pts"
    if floor is not None and floor.get("avg_gap") is not None:
        text += f" (retraining vs retraining: floor {floor['avg_gap']:.2f} pts, K = {floor['k']} seeds)"
    else:
        text += " (retraining's own spread unknown: no seed study of this request yet)"
    if differs:
        text += f"; {informative:.2f} pts without MIA-efficacy, whose attack is at chance"
    if study is not None:
        text += f"; seed study (K = {study['k']}): {VERDICT_WORDS.get(study['verdict_overall'], study['verdict_overall'])}"
    return text


def run_gap_headline(workspace: Workspace, summary: Mapping[str, Any], *, compact: bool = False) -> str:
    """`gap_headline` for a stored run, with its noise floor and same-method study looked up now."""
    found = study_of_run(workspace, summary)
    return gap_headline(summary, noise_floor_of(workspace, summary), found.info if found else None, compact=compact)


def stored_members(workspace: Workspace, summary: Mapping[str, Any], k: int) -> list[Entry]:
    """Stored runs that a study of this request at K seeds reuses as its unlearned members (training
    seeds 0..K-1, K..2K-1 for retrain; member 0 is usually the run itself)."""
    from unlearn_core.study.seed_study import method_seeds

    seeds = set(method_seeds(summary["method"], k))
    return [e for e in workspace.list("run", dataset=summary["dataset"])
            if all(e.info.get(f) == summary.get(f) for f in REQUEST_FIELDS)
            and _same_method(e.info, summary) and e.info.get("train_seed", e.info.get("seed")) in seeds]


def study_cost_s(workspace: Workspace, summary: Mapping[str, Any], k: int) -> tuple[float | None, int]:
    """(estimated seconds, members already stored) of a K-seed study of this run's request: K x (the
    run's retraining time + its method time), less each stored member (its method run and its
    retrained model, cached under the same training seed). None when the run's time is unknown."""
    method_s, retrain_s = summary.get("time_s"), summary.get("retrain_time_s")
    members = {e.info.get("train_seed", e.info.get("seed")) for e in stored_members(workspace, summary, k)}
    if method_s is None or retrain_s is None:
        return None, len(members)
    return max(0.0, k - len(members)) * (method_s + retrain_s), len(members)


def study_request(summary: Mapping[str, Any], k: int) -> RunRequest:
    """The tracked-run request of a K-seed study of this run's request, on the active data and model."""
    base = jobs.request_for(summary["forget"], summary["method"], None, seed=int(summary["seed"]))
    return dataclasses.replace(base, config=dict(summary.get("config") or {}), study_k=k)


def study_rows(request: RunRequest, limit: int = 200) -> list[RunRow]:
    """Tracked study runs of this request (any K), newest first."""
    wanted = {k: v for k, v in request.to_dict().items() if k != "study_k"}
    return [r for r in run_records.list_runs(jobs.current_workspace(), limit=limit, dataset=request.dataset)
            if r.request.get("study_k") and {k: v for k, v in r.request.items() if k != "study_k"} == wanted]


def verdict_frame(result: Mapping[str, Any]) -> pd.DataFrame:
    """One row per judged metric: retrained and unlearned mean ± std and range (%), and the verdict."""
    def cell(c: Mapping[str, Any]) -> str:
        values = [v for v in c["values"] if v is not None]
        if c["mean"] is None or not values:
            return "–"
        return (f"{100 * c['mean']:.1f} ± {100 * c['std']:.1f}  "
                f"({100 * min(values):.1f}–{100 * max(values):.1f})")

    rows = [[metric_label(key), cell(result["retrain"][key]), cell(result["unlearned"][key]),
             VERDICT_WORDS.get(verdict, verdict)] for key, verdict in result["verdict"].items()]
    return pd.DataFrame(rows, columns=["metric", "retrained: mean ± std (min–max), %",
                                       "unlearned: mean ± std (min–max), %", "verdict"])


def verdict_rule_text(result: Mapping[str, Any]) -> str:
    """The verdict rule in one paragraph, from the study's stored `verdict_rule`."""
    rule = result["verdict_rule"]
    return (f"**How the verdict is made**: per metric, a {rule['test']} of the K unlearned values against the K "
            f"retrained ones, at α = {rule['alpha']:g}; a metric is *outside* when the test rejects and the means "
            f"differ by more than {100 * rule['min_gap']:.1f} points, *no signal* when {rule['no_signal']}. With "
            f"K = {result['k']} seeds per side the test calls a false miss {100 * rule['false_alarm_rate']:.1f}% of "
            "the time when the two sides come from one distribution.")


def quality_sentence(result: Mapping[str, Any]) -> str | None:
    """What F says beside the headline verdict, read against its reference (retraining vs
    retraining at this K); None when F is unknown."""
    quality, null = result.get("forgetting_quality"), result.get("forgetting_quality_null")
    if quality is None or quality != quality or not null:
        return None
    n = len(result["per_example"])
    separable = sum(1 for p in result["per_example"] if p["epsilon"] >= result.get("forgetting_quality_rule", {})
                    .get("max_scored_epsilon", float("inf")))
    if quality < 0.5 * null:
        return (f"Per example, though, the unlearned models give themselves away: forgetting quality F = {quality:.3f} "
                f"against {null:.3f} for retraining vs retraining at this K; on {separable} of {n} forget examples "
                "an attacker tells an unlearned model's output from a retrained one's beyond what K seeds can resolve.")
    if quality >= 0.8 * null:
        return (f"Per example, the unlearned models are about as hard to tell from retrained ones as retrained models "
                f"are from each other: F = {quality:.3f} against {null:.3f} at this K.")
    return f"Per example, F = {quality:.3f} against {null:.3f} for retraining vs retraining at this K."


def _epsilon_text(eps: float, cap: float = 50.0) -> str:
    return "max" if eps >= cap else f"{eps:.2f}"


def render_study(entry: Entry, data: SplitDataset, key: str) -> None:
    """A stored study laid out: overall verdict, bands per metric, the verdict table and rule, F
    beside its reference with the ε histogram, and the most distinguishable forget examples."""
    r = entry.info
    overall = r["verdict_overall"]
    outside = [metric_label(k) for k, v in r["verdict"].items() if v == "outside"]
    text = (f"Over K = {r['k']} seeds per side, this method is **{VERDICT_WORDS.get(overall, overall)}**"
            + (f" on {', '.join(outside)}." if outside else " on every headline metric."))
    (st.error if overall == "outside" else st.success)(text, icon=":material/balance:")
    if sentence := quality_sentence(r):
        st.markdown(sentence)
    floor, gap = r["noise_floor"].get("avg_gap"), r["gap_to_retrain"].get("mean")
    if gap is not None and floor is not None:
        st.markdown(f"Average gap of an unlearned run to a retrained model: **{gap:.2f} pts**, against "
                    f"**{floor:.2f} pts** between two retrained models (the noise floor).")
    st.plotly_chart(bands_figure(r), key=f"{key}_bands")
    st.caption(BANDS_CAPTION)
    st.table(verdict_frame(r).set_index("metric"))
    st.markdown(verdict_rule_text(r))

    st.markdown("##### Per-example forgetting quality (NeurIPS 2023 unlearning challenge)")
    c1, c2, c3 = st.columns(3)
    c1.metric("Forgetting quality F", _fmt(r.get("forgetting_quality")),
              help="Mean per-example score from ε (1 = no forget example tells the unlearned models from the "
                   "retrained ones). Compare it with the reference beside it, not with 1.")
    c2.metric(f"Reference: retraining vs retraining at K = {r['k']}", _fmt(r.get("forgetting_quality_null")),
              help="The F that two groups of models from one distribution reach with this many seeds: the best a "
                   "method can expect here (few seeds make the threshold attacks overfit).")
    c3.metric("Forget examples", len(r["per_example"]))
    st.plotly_chart(epsilon_figure(r), key=f"{key}_eps")
    st.caption(EPSILON_CAPTION)

    positions = most_distinguishable(r["per_example"], N_EXAMPLES)
    if positions:
        st.markdown("##### The most distinguishable forget examples")
        st.caption("The forget images whose outputs give the unlearned models away most clearly, with their ε "
                   "(ε max: every unlearned model's output lies apart from every retrained model's).")
        picked = [r["per_example"][p] for p in positions]
        indices = [p["index"] for p in picked]
        from .widgets import image_grid

        image_grid(data, data.train, indices, columns=N_EXAMPLES,
                   captions=[f"#{p['index']} · ε {_epsilon_text(p['epsilon'])}" for p in picked])
        scores = get_study_scores(workspace_root(), entry.id)  # read once per study, not per rerun
        st.plotly_chart(examples_figure(scores, positions, [f"#{p['index']} (ε {_epsilon_text(p['epsilon'])})"
                                                            for p in picked]), key=f"{key}_examples")
        st.caption(EXAMPLES_CAPTION)
    st.caption(f"Stored seed study {entry.id}: {r['method']} at training seeds {r['member_seeds']['unlearned']}, "
               f"retrained at {r['member_seeds']['retrain']}; computed in {r['time_s']:.0f} s on {r.get('device', '?')}"
               + (f", {r['members_reused']} members reused." if r.get("members_reused") else "."))


def _fmt(value: float | None) -> str:
    return "–" if value is None or value != value else f"{value:.3f}"


def _start_button(workspace: Workspace, summary: Mapping[str, Any], key: str, label: str) -> None:
    """The K picker, the cost estimate from the run's stored times, and the button that starts the study."""
    k = st.radio("Seeds per side (K)", K_CHOICES, index=K_CHOICES.index(DEFAULT_K), horizontal=True,
                 key=f"{key}_k", help="K retrained models and K unlearned runs. 8 is the usual study; 4 is the "
                                      "smallest K at which the test can call a miss at all.")
    cost, stored = study_cost_s(workspace, summary, k)
    estimate = ("cost unknown (the run's time was not measured here)" if cost is None else
                f"about {_duration(cost)} on this machine: {k} × (retraining {summary['retrain_time_s']:.1f} s + "
                f"method {summary['time_s']:.1f} s)" + (f", less {stored} member(s) already stored" if stored else ""))
    st.caption(f":material/timer: {estimate}. It runs in the background; you can leave the page.")
    if st.button(label, key=f"{key}_start", icon=":material/stacked_line_chart:", type="primary"):
        jobs.start_unlearn_run(f"Seed study (K = {k}): {summary['method']} forgetting {summary['forget']}",
                               study_request(summary, k))
        st.rerun()


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def study_panel(summary: Mapping[str, Any], data: SplitDataset, key: str, *, can_start: bool,
                why_not: str = "") -> None:
    """Compare's seed-study section for one run: the stored study of its request (same method and
    settings) if any; else a "Run a seed study" button with its cost, live progress and cancel while
    it runs, and the study once stored. `can_start` is False when the run's model is not the active
    one (`why_not` says so)."""
    workspace = jobs.current_workspace()
    request = study_request(summary, DEFAULT_K) if can_start else None
    rows = study_rows(request) if request is not None else []
    polling = bool(rows) and rows[0].active

    @st.fragment(run_every=POLL_S if polling else None)
    def live() -> None:
        with error_boundary(f"{key}_study_reset"):
            current = study_rows(request) if request is not None else []
            if polling and not (current and current[0].active):
                st.rerun()  # the study finished: the whole page once, so the stored study is found
            row = current[0] if current else None
            if row is not None and (row.active or row.status in ("failed", "cancelled")):
                run_status(row, f"{key}_study")
                if row.active:
                    return
            found = study_of_run(workspace, summary)
            if found is not None:
                render_study(found, data, key)
                if can_start:
                    with st.expander("Run the study again with another K", icon=":material/stacked_line_chart:"):
                        _start_button(workspace, summary, key, "Run a seed study")
                return
            st.info("No seed study of this request yet: one run says nothing about how far retraining itself "
                    "varies from seed to seed. A study trains K retrained models and runs the method at K seeds, "
                    "then judges every metric against retraining's spread.", icon=":material/info:")
            if not can_start:
                st.caption(why_not)
                return
            _start_button(workspace, summary, key, "Run a seed study")

    live()


def tour_study_section(workspace: Workspace, summary: Mapping[str, Any], request: RunRequest, row: RunRow | None,
                       *, auto_start_key: str, key: str) -> None:
    """The tour's verdict against retraining's spread: the stored seed study of its DEL request
    (bands and F), else its progress while it runs in the background, else a button to start it.
    The study starts by itself once, after the first verdict, when the session's
    `auto_start_key` flag is set (the tour's button sets it), so it never delays that verdict."""
    found = study_of_run(workspace, summary)
    if found is not None:
        r = found.info
        floor, gap = r["noise_floor"].get("avg_gap"), r["gap_to_retrain"].get("mean")
        text = (f"**Against retraining's own spread** (a seed study, K = {r['k']} seeds per side): DEL is "
                f"**{VERDICT_WORDS.get(r['verdict_overall'], r['verdict_overall'])}**")
        outside = [metric_label(k) for k, v in r["verdict"].items() if v == "outside"]
        text += f" on {', '.join(outside)}." if outside else " on every headline metric."
        if gap is not None and floor is not None:
            text += (f" An unlearned run is {gap:.2f} points from a retrained model on average; two retrained models "
                     f"are {floor:.2f} points apart.")
        st.markdown(text)
        if sentence := quality_sentence(r):
            st.markdown(sentence)
        st.plotly_chart(bands_figure(r), key=f"{key}_bands")
        st.caption(BANDS_CAPTION + " The per-example ε histogram and the most distinguishable 3s are on Compare.")
        return
    if row is not None and row.active:
        st.markdown("**Against retraining's own spread**: one retrained model is one draw. A seed study "
                    f"(K = {request.study_k}) is running in the background to show how far retraining varies from "
                    "seed to seed; the verdict above stays as it is meanwhile.")
        run_status(row, f"{key}_study")
        return
    if row is not None and row.status in ("failed", "cancelled"):
        run_status(row, f"{key}_study")
    elif st.session_state.pop(auto_start_key, False):
        jobs.start_unlearn_run(f"Tour: seed study of DEL (K = {request.study_k})", request)
        st.rerun()
    cost, _ = study_cost_s(workspace, summary, request.study_k or DEFAULT_K)
    estimate = "" if cost is None else f", about {_duration(cost)}"
    if st.button(f"Check it against retraining's spread (K = {request.study_k}{estimate})", key=f"{key}_study_start",
                 icon=":material/stacked_line_chart:"):
        jobs.start_unlearn_run(f"Tour: seed study of DEL (K = {request.study_k})", request)
        st.rerun()
