"""Guided tour: the whole story on the built-in digits in one click, for teaching. A model that
knows ten digits is asked to forget every 3; DEL localizes, resets and finetunes; the result is
held against a model retrained without the 3s."""

from __future__ import annotations

import numpy as np
import streamlit as st

from studio_ui import jobs, state
from studio_ui.compare_charts import PER_CLASS_CAPTION, headline_frame, run_per_class_figure
from studio_ui.localization_charts import layer_share_bars
from studio_ui.resources import get_dataset, get_logits, get_mask, get_model, get_workspace
from studio_ui.run_list import run_status
from studio_ui.widgets import image_grid, pct
from unlearn_core.fingerprint import data_fingerprint
from unlearn_core.forget import resolve
from unlearn_core.methods import get_method
from unlearn_core.models import state_digest
from unlearn_core.runs import find_run
from unlearn_core.train import accuracy

DATA = state.DataRef()  # the built-in digits
MODEL = state.ModelRef("default")
FORGET = state.ForgetSelection("class:3", "class 3 (every train image of a 3)")
METHOD = "del"
SEED = 0
HEADLINE_LABELS = {"forget_acc": "forget set (train 3s)", "retain_acc": "retain set (other train images)",
                   "test_acc": "test images of other digits", "forget_test_acc": "test images of 3s",
                   "mia_efficacy": "MIA-efficacy"}

st.title(":material/school: Guided tour")
st.markdown(
    "A user asks a digit classifier to forget everything it learned from their images of the digit **3**. "
    "The honest answer is to train the model again without those images; that is slow, so unlearning "
    "methods try to reach the same model faster. This tour runs one of them, **DEL** (localize, reset, "
    "finetune), and holds it against retraining, the gold standard. One click runs everything; every step "
    "links to the page where you can explore it further."
)

root = state.workspace_root()
workspace = get_workspace(root)
data = get_dataset(DATA)
model, meta = get_model(DATA, MODEL, root)
forget = resolve(FORGET.spec, data, SEED)
info = get_method(METHOD)
config = info.config_cls()
stored = find_run(workspace, dataset=data.name, method=METHOD, forget=FORGET.spec, seed=SEED,
                  model_digest=state_digest(model), config=config.to_dict(), fingerprint=data_fingerprint(data))
request = jobs.request_for(FORGET.spec, METHOD, config, seed=SEED, data=DATA, model=MODEL)

label = "Run the tour again" if stored else "Run the tour"
if st.button(label, type="primary", icon=":material/play_arrow:", key="tour_start",
             help="Makes digits, the shipped model and 'forget class 3' the active choice on every page, "
                  "then runs DEL and the retrained model in the background (about a minute on a laptop CPU)."):
    state.set_data_ref(DATA)
    state.set_model_ref(MODEL)
    state.set_forget_selection(FORGET)
    jobs.start_unlearn_run(f"Tour: {info.title} forgetting {FORGET.description}", request)

# -- 1. the model --------------------------------------------------------------------------------
with st.container(border=True):
    st.subheader("1. A model that knows ten digits")
    test_acc = accuracy(get_logits(DATA, MODEL, root, "test"), data.test.y)
    st.markdown(f"A small convolutional network ({sum(p.numel() for p in model.parameters()):,} parameters) "
                f"trained on {len(data.train):,} handwritten digits of {data.input_shape[-1]}×{data.input_shape[-1]} "
                f"pixels. It labels **{pct(test_acc)}** of {len(data.test):,} unseen test digits correctly.")
    one_per_class = [int(np.flatnonzero(data.train.y.numpy() == c)[0]) for c in range(data.num_classes)]
    image_grid(data, data.train, one_per_class)
    st.page_link("app_pages/model_data.py", label="Model & data: other datasets, your own model",
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
    st.page_link("app_pages/forget_set.py", label="Forget set: pick images, random samples, concepts",
                 icon=":material/playlist_remove:")

# -- 3. where the method acts --------------------------------------------------------------------
with st.container(border=True):
    st.subheader("3. Where DEL acts")
    budget = float(config.budget)
    masks = {"DEL (weighted gradient on the 3s)": get_mask(DATA, MODEL, root, FORGET.spec, "del", None, budget),
             "random control": get_mask(DATA, MODEL, root, FORGET.spec, "random", None, budget)}
    st.markdown(f"DEL scores every output channel by how much its weights drive the loss on the 3s "
                f"(|weight × gradient|), resets the top {budget:.0%} of all parameters to fresh random values "
                "and finetunes only them on the retain set. A random mask with the same budget is the control.")
    st.plotly_chart(layer_share_bars(masks, "Share of each parameter tensor DEL resets (vs a random mask)"),
                    key="tour_share")
    st.caption("Tall bars are layers DEL resets and retrains; the random mask spreads its budget evenly.")
    st.page_link("app_pages/localization.py", label="Localization: heatmaps, other localizers, Partial-PGD",
                 icon=":material/frame_inspect:")


def verdict(s: dict) -> str:
    """Three sentences a teacher can read out: forgetting, keeping, cost."""
    o, u, r = s["original"], s["unlearned"], s["retrain"]
    return (f"**Forgetting**: on test 3s the model went from {pct(o['forget_test_acc'])} to "
            f"{pct(u['forget_test_acc'])}; the retrained model gets {pct(r['forget_test_acc'])}.  \n"
            f"**Keeping**: on the other digits it gets {pct(u['test_acc'])} (original {pct(o['test_acc'])}, "
            f"retrained {pct(r['test_acc'])}).  \n"
            f"**Closeness to retraining**: {s['avg_gap']:.2f} points apart on average over the four headline "
            f"figures; DEL took {s['time_s']:.1f} s against {s['retrain_time_s']:.1f} s to retrain.")


# -- 4 and 5. run and compare --------------------------------------------------------------------
tour_run = jobs.latest(request)  # found in the workspace's run records, also after a reload
polling = tour_run is not None and tour_run.active


@st.fragment(run_every=1.0 if polling else None)
def run_and_compare() -> None:
    """The tour's run: live progress while it runs, then the comparison with retraining."""
    current = jobs.latest(request)
    if polling and current is not None and not current.active:
        st.rerun()  # the whole page once, so the finished run is found and polling stops
    with st.container(border=True):
        st.subheader("4. Unlearn, and retrain for reference")
        if current is not None and current.status != "done":
            run_status(current, "tour")
            if current.active:
                return
        run_id = current.id if current is not None and current.status == "done" else stored and stored.id
        if not run_id:
            st.info("Press **Run the tour** above: DEL and the retrained model are computed in the background.")
            return
        s = workspace.get(run_id).info
        state.remember_run(run_id)
        st.markdown(f"DEL ran with its default settings ({', '.join(f'{k} {v}' for k, v in s['config'].items())}). "
                    f"Retraining took {s['retrain_time_s']:.1f} s; the retrained model is stored and reused.")
    with st.container(border=True):
        st.subheader("5. Did it forget like retraining?")
        st.dataframe(headline_frame(s, HEADLINE_LABELS))
        st.caption("Accuracy on each slice, and MIA-efficacy: the share of the forgotten images a membership "
                   "attack calls unseen. The unlearned column should match the retrain column, not 0 or 100%.")
        st.markdown(verdict(s))
        st.plotly_chart(run_per_class_figure(s, data.class_names), key="tour_per_class")
        st.caption(PER_CLASS_CAPTION)
        st.page_link("app_pages/compare.py", label="Compare: embeddings, MIA scores, the HTML report",
                     icon=":material/compare:")
        st.page_link("app_pages/unlearn.py", label="Unlearn: try the other methods on the same request",
                     icon=":material/auto_fix_high:")


run_and_compare()
