"""One vocabulary for every page: friendly metric labels, percentages, and the glossary.

The tour, Unlearn, Compare, the run history and the HTML report all name a metric through
`metric_label`, so a newcomer reads the same words everywhere.
"""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from unlearn_core.metrics import metric_help

METRIC_HELP = metric_help()  # metric key -> (label, what it measures, how to read it)

# Friendly names (stored keys on the left): the per-model metrics keep the library's labels
# (METRIC_HELP, also in the CLI's docs), the comparison measures get theirs here.
METRIC_LABELS: dict[str, str] = {
    **{key: label for key, (label, _, _) in METRIC_HELP.items()},
    "avg_gap": "average gap to retrain (points)",
    "tug_of_war": "Tug-of-War (1 = like retrain)",
    "js_forget": "JS divergence, forget set",
    "js_test": "JS divergence, test set",
    "params_changed_frac": "parameters changed",
    "time_ratio": "time vs retraining",
    "time_s": "method time (s)",
    "retrain_time_s": "retrain time (s)",
}
# Keys whose values are shares in [0, 1], shown as percentages.
PERCENT_KEYS = {"forget_acc", "retain_acc", "test_acc", "forget_test_acc", "mia_efficacy", "backdoor_asr",
                "params_changed_frac", "mia_attack_acc", "test_acc_all"}
MODEL_LABELS = {"original": "original", "unlearned": "unlearned", "retrain": "retrained (reference)"}

GLOSSARY: dict[str, str] = {
    "Forget set (D_f)": "The training images the model must forget.",
    "Retain set (D_r)": "Every other training image: the model should keep what it learned from them.",
    "Retrained model (oracle)": "A model trained from scratch without the forget set: the gold standard "
                                "unlearning imitates. Slow, so it is the reference, not a method.",
    "MIA efficacy": "Share of the forget set that a membership-inference attack calls 'never seen in "
                    "training'. It should match the retrained model's value, not simply be 100%.",
    "Average gap": "Mean distance, in percentage points, between the unlearned and the retrained model over "
                   "forget, retain and test accuracy and MIA efficacy. 0 = indistinguishable from retraining.",
    "Tug-of-War": "(1-|ΔFA|)·(1-|ΔRA|)·(1-|ΔTA|) against the retrained model: 1 means identical accuracies on "
                  "the forget set, the retain set and the test set.",
    "Jaccard overlap": "How much two parameter masks agree: shared selected entries / entries either "
                       "selects. 1 = the same mask; two random masks overlap about α/(2-α).",
    "CKA (centered kernel alignment)": "How alike two models' layer outputs are on the same images, 0 to 1 (1 = the "
                                       "same up to rotation and scale). Read it between its floor (an untrained model) "
                                       "and its ceiling (two retrainings at different seeds).",
    "JS divergence": "Jensen-Shannon divergence between two models' predicted class probabilities, averaged over "
                     "images: 0 = the same predictions, ln 2 ≈ 0.69 at most.",
    "TPR / FPR": "A membership attack's true-positive rate (members it calls members) and false-positive rate "
                 "(non-members it calls members). An attack at chance has TPR ≈ FPR; an accuracy below 50% is chance "
                 "too, not a sign of forgetting.",
    "AUC": "Area under the ROC curve of an attack: 0.50 = it cannot tell members from non-members, 1.00 = it always "
           "can. Shown as a number, not a percentage.",
    "Relearn": "How fast the unlearned model picks the forgotten data back up when finetuned on a few of its images: "
               "fast relearning means the knowledge was hidden, not removed.",
    "IG (Integrated Gradients)": "An attribution method: how much each input pixel (or concept) moves a class score, "
                                 "summed along a path from a baseline image to the real one.",
    "LoRA": "Low-rank adaptation: training small added low-rank matrices beside frozen weights instead of the weights "
            "themselves (RFA unlearns this way).",
    "Noise floor": "What two models retrained from scratch at different seeds already differ by (average gap, "
                   "points). A gap near the floor is as close to retraining as retraining gets to itself.",
    "Seed study": "K retrained and K unlearned models of one request at different seeds; each metric is judged "
                  "within or outside retraining's spread by a permutation test.",
    "ε / forgetting quality F": "Per forget image, ε bounds how well any threshold on a model's confidence tells "
                                "the unlearned models from the retrained ones (0 = not at all); F, from 0 to 1, "
                                "summarises the ε of all forget images (1 = indistinguishable from retraining).",
}


def metric_label(key: str) -> str:
    """The friendly label of a stored metric key (the key itself if it has none)."""
    return METRIC_LABELS.get(key, key.replace("_", " "))


def format_number(value: float | int | None, *, percent: bool = False, unit: str = "") -> str:
    """Every figure the studio shows goes through here, so one kind of figure reads one way.

    None / NaN -> "–"; `percent`: a share in [0, 1] as a percentage with one decimal ("55.0%",
    "100.0%"); an int with thousands separators; other numbers with two decimals below 10 ("0.50",
    "1.00", never "1" beside "1.00"), one below 100 and none above, three significant digits below
    0.01 ("0.005"); `unit` after a space ("12.3 s") or glued when it is "x" ("0.25x").
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if percent:
        text = f"{100 * value:.1f}%"
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        text = f"{int(value):,}"
    else:
        v = float(value)
        if v != 0 and abs(v) < 0.01:
            text = f"{v:.3g}"
        elif abs(v) < 10:
            text = f"{v:.2f}"
        elif abs(v) < 100:
            text = f"{v:.1f}"
        else:
            text = f"{v:,.0f}"
    if not unit:
        return text
    return f"{text}{unit}" if unit == "x" else f"{text} {unit}"


def format_value(key: str, value: float | None) -> str:
    """A stored metric value as every page shows it (`format_number` by the key's kind): shares as
    percentages, AUCs and scores with two decimals, times in seconds, the time ratio as "0.25x"."""
    if key in PERCENT_KEYS:
        return format_number(value, percent=True)
    if key == "time_ratio":
        return format_number(value, unit="x")
    if key.endswith("time_s"):
        return format_number(value, unit="s")
    return format_number(value)


def format_duration(seconds: float | None) -> str:
    """A duration as pages show it: "under 1 s", "35 s", "2 min 05 s", "36 min", "1 h 04 min" ("–" when unknown)."""
    if seconds is None or math.isnan(seconds):
        return "–"
    if seconds < 1:
        return "under 1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def format_setting(value: object) -> str:
    """A method setting as the user would type it, shares with two decimals: 0.30, 0.05, 0.015, 30."""
    if isinstance(value, float):
        return f"{value:.2f}" if 0 < abs(value) < 10 and round(value, 2) == value else f"{value:g}"
    return str(value)


def glossary_markdown() -> str:
    """The glossary as a Markdown list."""
    return "\n".join(f"- **{term}**: {text}" for term, text in GLOSSARY.items())


def glossary_expander() -> None:
    """The glossary in a collapsed expander (the sidebar shows it on every page)."""
    with st.expander("Glossary", icon=":material/menu_book:"):
        st.markdown(glossary_markdown())
