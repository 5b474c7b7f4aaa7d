"""Guided tour: the whole story on the built-in digits in one click, for teaching. A model that
knows ten digits is asked to forget every 3; DEL localizes, resets and finetunes; the result is
held against a model retrained without the 3s."""

from __future__ import annotations

import numpy as np
import streamlit as st

from studio_ui import jobs, state, tour_runs
from studio_ui.compare_charts import PER_CLASS_CAPTION, headline_frame, run_per_class_figure
from studio_ui.error_boundary import error_boundary
from studio_ui.labels import format_value
from studio_ui.localization_charts import layer_share_bars
from studio_ui.navigation import page_file
from studio_ui.resources import get_dataset, get_logits, get_mask, get_model, get_run_artifacts, get_workspace
from studio_ui.run_list import run_status
from studio_ui.study_view import noise_floor_of, tour_study_section
from studio_ui.tour_estimate import load_benchmark, load_tour_timing, tour_estimate, why_it_pays
from studio_ui.tour_runs import DATA, FORGET, METHOD, METHODS, MODEL, SEED
from studio_ui.widgets import image_grid, pct
from unlearn_core.forget import resolve
from unlearn_core.methods import get_method
from unlearn_core.methods.deletion import resolved_budget
from unlearn_core.train import accuracy

HEADLINE_LABELS = {"forget_acc": "forget set (train 3s)", "retain_acc": "retain set (other train images)",
                   "test_acc": "test images of other digits", "forget_test_acc": "test images of 3s",
                   "mia_efficacy": "MIA-efficacy"}



st.title(":material/school: Guided tour")
st.markdown(
    "A user asks a digit classifier to forget everything it learned from their images of the digit **3**. "
    "The honest answer is to train the model again without those images; that is slow, so unlearning "
    "methods try to reach the same model faster. This tour runs two of them, **DEL** (localize, reset, "
    "finetune) and the fast **RFA** (a small LoRA adapter), and holds them against retraining, the gold "
    "standard. One click runs everything; every step links to the page where you can explore it further."
)

root = state.workspace_root()
workspace = get_workspace(root)
data = get_dataset(DATA)
model, meta = get_model(DATA, MODEL, root)
forget = resolve(FORGET.spec, data, SEED)
config = get_method(METHOD).config_cls()
del_run, fast_run = tour_runs.tour_runs(workspace, data, model)
study_request = tour_runs.study_request(del_run)  # DEL's seed study, computed after the verdict

label = "Run the tour again" if tour_runs.all_stored((del_run, fast_run)) else "Run the tour"
estimate = tour_estimate(del_run.stored.info if del_run.stored else None,
                         fast_run.stored.info if fast_run.stored else None, load_benchmark(), METHODS,
                         load_tour_timing())
st.caption(f":material/timer: {estimate}")
if st.button(label, type="primary", icon=":material/play_arrow:", key="tour_start",
             help="Makes digits, the shipped model and 'forget class 3' the active choice on every page, "
                  "then runs DEL, RFA and the retrained model in the background (what is stored is reused)."):
    state.set_data_ref(DATA)
    state.set_model_ref(MODEL)
    state.set_forget_selection(FORGET)
    # Both start now, each in its own worker process, one core each: RFA's run trains the retrained
    # model after its one-second method, beside DEL's method; DEL's run then finds it stored.
    for run in tour_runs.to_start((del_run, fast_run)):
        jobs.start_unlearn_run(f"Tour: {get_method(run.method).title} forgetting {FORGET.description}", run.request)
    st.session_state["tour_study_after_verdict"] = True  # the seed study starts once the verdict is shown
    st.rerun()  # the runs' records now exist: the page polls them from the top

# -- 1. the model --------------------------------------------------------------------------------
with st.container(border=True):
    st.subheader("1. A model that knows ten digits")
    test_acc = accuracy(get_logits(DATA, MODEL, root, "test"), data.test.y)
    st.markdown(f"A small convolutional network ({sum(p.numel() for p in model.parameters()):,} parameters) "
                f"trained on {len(data.train):,} handwritten digits of {data.input_shape[-1]}×{data.input_shape[-1]} "
                f"pixels. It labels **{pct(test_acc)}** of {len(data.test):,} unseen test digits correctly.")
    one_per_class = [int(np.flatnonzero(data.train.y.numpy() == c)[0]) for c in range(data.num_classes)]
    image_grid(data, data.train, one_per_class)
    st.page_link(page_file("model_data"), label="Model & data: other datasets, your own model",
                 icon=":material/dataset:")

# -- 2. the request ------------------------------------------------------------------------------
with st.container(border=True):
    st.subheader("2. The request: forget every 3")
    c = st.columns(3)
    c[0].metric("Forget set", f"{forget.n_forget} images")
    c[1].metric("Retain set", f"{forget.n_retain} images")
    c[2].metric("Test 3s (to check)", len(forget.test_forget_idx))
    image_grid(data, data.train, forget.forget_idx[:10].tolist())
    st.caption("A model retrained without these images has never seen a 3: it gets 0% of test 3s right, and "
               "everything else as right as before. That model is what unlearning must imitate.")
    st.page_link(page_file("forget_set"), label="Forget set: pick images, random samples, concepts",
                 icon=":material/playlist_remove:")

# -- 3. where the method acts --------------------------------------------------------------------
with st.container(border=True):
    st.subheader("3. Where DEL acts")
    budget = resolved_budget(config, forget)
    masks = {"DEL (weighted gradient on the 3s)": get_mask(DATA, MODEL, root, FORGET.spec, "del", None, budget),
             "random control": get_mask(DATA, MODEL, root, FORGET.spec, "random", None, budget)}
    st.markdown(f"DEL scores every output channel by how much its weights drive the loss on the 3s "
                f"(|weight × gradient|), resets the top {budget:.0%} of all parameters to fresh random values "
                "and finetunes only them on the retain set. A random mask with the same budget is the control.")
    st.plotly_chart(layer_share_bars(masks, "Share of each parameter tensor DEL resets (vs a random mask)"),
                    key="tour_share")
    st.caption("Tall bars are layers DEL resets and retrains; the random mask spreads its budget evenly.")
    st.page_link(page_file("localization"), label="Localization: heatmaps, other localizers, Partial-PGD",
                 icon=":material/frame_inspect:")


def verdict(s: dict, fast: dict | None, floor: dict | None = None) -> str:
    """Three sentences a teacher can read out: forgetting, keeping, cost; with retraining's own gap
    beside DEL's once a seed study of the request is stored (`floor`)."""
    o, u, r = s["original"], s["unlearned"], s["retrain"]
    text = (f"**Forgetting**: on test 3s the model went from {pct(o['forget_test_acc'])} to "
            f"{pct(u['forget_test_acc'])} with DEL; the retrained model gets {pct(r['forget_test_acc'])}.  \n"
            f"**Keeping**: on the other digits DEL gets {pct(u['test_acc'])} (original {pct(o['test_acc'])}, "
            f"retrained {pct(r['test_acc'])}).  \n"
            f"**Closeness to retraining**: DEL is {format_value('avg_gap', s['avg_gap'])} points from it on average over the four "
            f"headline figures")
    if fast is not None:
        text += f", RFA {format_value('avg_gap', fast['avg_gap'])} points"
    if floor is not None and floor.get("avg_gap") is not None:
        text += (f" (retraining vs retraining: floor {format_value('avg_gap', floor['avg_gap'])} points, K = {floor['k']} seeds: two "
                 "retrained models already differ by that much)")
    text += f".  \n**Cost**: DEL took {format_value('time_s', s['time_s'])}"
    if fast is not None:
        text += f", RFA {format_value('time_s', fast['time_s'])},"
    return text + f" against {format_value('time_s', s['retrain_time_s'])} to retrain."


# -- 4 and 5. run and compare --------------------------------------------------------------------
def _active(*rows) -> bool:
    return any(r is not None and r.active for r in rows)


# found in the run records, also after a reload
polling = _active(del_run.row, fast_run.row, jobs.latest(study_request))


def run_and_compare() -> None:
    """The tour's runs: live progress while they run, then the comparison with retraining as soon as
    DEL's run is done (it holds the retrained model's figures), with RFA's column once RFA's is."""
    current, fast = tour_runs.tour_runs(workspace, data, model)
    study_row = jobs.latest(study_request)
    if polling and not _active(current.row, fast.row, study_row):
        st.rerun()  # the whole page once, so the finished runs are found and polling stops
    with st.container(border=True):
        st.subheader("4. Unlearn, and retrain for reference")
        for run, what in ((current, "DEL"), (fast, "RFA, then the retrained model both are held against")):
            if run.row is not None and run.row.status != "done":
                st.caption(what)
                run_status(run.row, f"tour_{run.method}")
        if current.active:
            return
        if not current.result_id:
            if not fast.active:
                st.info("Press **Run the tour** above: DEL, RFA and the retrained model are computed in the background.")
            return
        run_id, fast_id = current.result_id, None if fast.active else fast.result_id
        s = workspace.get(run_id).info
        f = workspace.get(fast_id).info if fast_id else None
        state.remember_run(run_id)
        resolved = {k.removeprefix("resolved/"): v for k, v in get_run_artifacts(root, run_id).items()
                    if k.startswith("resolved/")}
        settings = {**s["config"], **resolved}
        st.markdown(f"DEL ran with its default settings ({', '.join(f'{k} {v}' for k, v in settings.items())}). "
                    f"Retraining took {format_value('time_s', s['retrain_time_s'])}; the retrained model is stored "
                    "and reused by every run of this request"
                    + (f". RFA took {format_value('time_s', f['time_s'])}." if f else ".")
                    + (" RFA is still running: its column follows." if fast.active else ""))
    with st.container(border=True):
        st.subheader("5. Did it forget like retraining?")
        table = headline_frame(s, HEADLINE_LABELS).rename(columns={"unlearned": "DEL",
                                                                   "retrain": "retrained (reference)"})
        if f is not None:
            table.insert(2, "RFA", headline_frame(f, HEADLINE_LABELS)["unlearned"])
        st.dataframe(table)
        st.caption("Accuracy on each slice, and MIA efficacy: the share of the forgotten images a membership "
                   "attack calls unseen. Each method's column should match the retrained column, not 0 or 100%.")
        st.markdown(verdict(s, f, noise_floor_of(workspace, s)))
        if not fast.active:  # the seed study starts after both methods, never beside them
            tour_study_section(workspace, s, study_request, study_row, auto_start_key="tour_study_after_verdict",
                               key="tour")
        st.info(why_it_pays(s, f, METHODS), icon=":material/speed:")
        st.plotly_chart(run_per_class_figure(s, data.class_names), key="tour_per_class")
        st.caption(PER_CLASS_CAPTION + " (Here: DEL as the unlearned model.)")
        st.page_link(page_file("compare"), label="Compare: embeddings, MIA scores, the HTML report",
                     icon=":material/compare:")
        st.page_link(page_file("unlearn"), label="Unlearn: try the other methods on the same request",
                     icon=":material/auto_fix_high:")


@st.fragment(run_every=0.5 if polling else None)  # twice a second: the verdict shows as soon as DEL is done
def run_and_compare_live() -> None:
    """`run_and_compare`, polled while the tour's runs are going, inside its own error boundary."""
    with error_boundary("tour_reset"):
        run_and_compare()


run_and_compare_live()
jobs.warm_workers(len(METHODS))  # the button starts both methods at once: a standby ready for each
