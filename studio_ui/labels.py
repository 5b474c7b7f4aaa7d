"""One vocabulary for every page: friendly metric labels, percentages, and the glossary.

The tour, Unlearn, Compare, the run history and the HTML report all name a metric through
`metric_label`, so a newcomer reads the same words everywhere.
"""

from __future__ import annotations

import math

import streamlit as st

from unlearn_core.comparison import METRIC_HELP

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
                "params_changed_frac"}
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
}


def metric_label(key: str) -> str:
    """The friendly label of a stored metric key (the key itself if it has none)."""
    return METRIC_LABELS.get(key, key.replace("_", " "))


def format_value(key: str, value: float | None) -> str:
    """A metric value as the pages show it: shares as percentages, the rest with 3 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if key in PERCENT_KEYS:
        return f"{100 * value:.1f}%"
    if key == "time_ratio":
        return f"{value:.2f}x"
    return f"{value:.3g}"


def glossary_markdown() -> str:
    """The glossary as a Markdown list."""
    return "\n".join(f"- **{term}**: {text}" for term, text in GLOSSARY.items())


def glossary_expander() -> None:
    """The glossary in a collapsed expander (the sidebar shows it on every page)."""
    with st.expander("Glossary", icon=":material/menu_book:"):
        st.markdown(glossary_markdown())
