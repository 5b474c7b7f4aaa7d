"""Figures and tables for one stored run against the original and retrained models. Used by the
Compare page, the guided tour and the HTML report, so all three show the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearn_core.metrics import at_chance, metric_help
from unlearn_core.runs.one_run import HEADLINE

from .charts import MODEL_COLORS, per_class_bars
from .labels import MODEL_LABELS, format_value, metric_label

if TYPE_CHECKING:  # the view model imports captum and scikit-learn: the tour draws its charts without them
    from unlearn_core.inspect.overview import ComparisonView

WHO = ("original", "unlearned", "retrain")
BINS = dict(start=0.0, end=1.0, size=1 / 30)  # the same bins for every model, so bars line up

EMBEDDING_CAPTION = (
    "Each point is a sample's predicted class probabilities (log scale), mapped with one projection fitted on "
    "the original model. Light grey: test samples. Lines show how far unlearning moved forget samples; the unlearned "
    "(red) points should land where the retrained (green) ones are."
)
MIA_CAPTION = (
    "The attack calls high-confidence samples members. After unlearning, the forget set's confidences should look "
    "like the retrained model's (and like unseen test samples), not like the original's."
)
PER_CLASS_CAPTION = "Bars of the unlearned model should match the retrained model's, class by class."


def headline_frame(summary: dict[str, Any], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The five headline figures (as percentages) of the three models, one row per figure."""
    from .widgets import pct

    return pd.DataFrame({who: [pct(summary[who][k]) for k in HEADLINE] for who in WHO},
                        index=[(labels or {}).get(k, metric_label(k)) for k in HEADLINE])


def mia_chance_note(summary: dict[str, Any]) -> str | None:
    """A warning when MIA-efficacy's attack is at chance on the retrained or the unlearned model (its
    accuracy on its own training samples within 5 points of 50%), else None: its verdict is then
    noise, and so is the share of the average gap it contributes."""
    details = summary.get("details", {})
    accs = {name: details.get(who, {}).get("mia_attack_acc") for who, name in (("unlearned", "unlearned"),
                                                                               ("retrain", "retrained"))}
    chance = [f"the {name} model (attack accuracy {100 * acc:.0f}%)" for name, acc in accs.items() if at_chance(acc)]
    if not chance:
        return None
    which = " and ".join(chance)
    return (f"The membership attack behind MIA-efficacy is at chance on {which}: it cannot tell the samples "
            "it was fitted on apart, so its MIA-efficacy is noise here, and so is the share of the average gap it "
            "adds. Judge forgetting by the accuracies and the loss-attack AUC.")


def comparison_values(summary: dict[str, Any]) -> dict[str, float | None]:
    """The measures of COMPARISON_HELP for a run: closeness to retrain, locality and cost."""
    return {**summary.get("versus_retrain", {}), "params_changed_frac": summary.get("params_changed_frac"),
            "time_ratio": summary.get("time_ratio")}


def metric_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per metric the run measured: original, unlearned and retrain values (%) with what
    the metric measures and how to read it."""
    rows = []
    for key, (_, what, direction) in metric_help().items():
        values = [summary["details"][who].get(key) for who in WHO]
        if all(v is None for v in values):
            continue
        rows.append([metric_label(key), *[format_value(key, v) for v in values], what, direction])
    return pd.DataFrame(rows, columns=["metric", "original", "unlearned", "retrain", "what it measures", "how to read"])


def run_per_class_figure(summary: dict[str, Any], class_names: list[str]) -> go.Figure:
    """Per-class test accuracy of the three models of a run."""
    series = {who: summary["details"][who]["per_class_test_acc"] for who in WHO}
    return per_class_bars(summary.get("class_names", class_names), series, "Test accuracy per class")


def embedding_figure(view: ComparisonView, projection: str) -> go.Figure:
    """Forget samples under each model on one shared projection, with original -> unlearned lines."""
    fig = go.Figure()
    test_rows = ~view.is_forget
    fig.add_scatter(x=view.coords["original"][test_rows, 0], y=view.coords["original"][test_rows, 1],
                    mode="markers", name="test samples (original model)", marker=dict(size=4, color="#c7c7c7"))
    for who, xy in view.coords.items():
        fig.add_scatter(x=xy[view.is_forget, 0], y=xy[view.is_forget, 1], mode="markers",
                        name=f"forget samples, {who}", marker=dict(size=6, color=MODEL_COLORS[who], opacity=0.8))
    before, after = view.coords["original"][view.is_forget], view.coords["unlearned"][view.is_forget]
    step = max(1, len(before) // 150)  # at most ~150 lines stay readable
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in zip(before[::step], after[::step], strict=True):
        xs += [a[0], b[0], None]
        ys += [a[1], b[1], None]
    fig.add_scatter(x=xs, y=ys, mode="lines", name="movement original → unlearned",
                    line=dict(color="rgba(214,39,40,0.25)", width=1))
    name = projection.upper()
    fig.update_layout(height=560, title=f"Model outputs on one shared {name} projection",
                      xaxis_title=f"{name} 1", yaxis_title=f"{name} 2")
    return fig


def mia_figure(view: ComparisonView) -> go.Figure:
    """True-label confidence on the forget set, one panel per model (small multiples, shared axes),
    each with that model's test samples as a black outline: no overlapping colours to untangle."""
    models = list(view.confidence)
    fig = make_subplots(rows=1, cols=len(models), shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=[MODEL_LABELS.get(who, who) for who in models])
    for col, who in enumerate(models, start=1):
        conf = view.confidence[who]
        fig.add_histogram(x=conf["forget"], name="forget set", xbins=BINS, histnorm="probability",
                          marker_color=MODEL_COLORS[who], showlegend=False, row=1, col=col,
                          hovertemplate=f"{who}, forget set<br>confidence %{{x}}<br>share %{{y:.1%}}<extra></extra>")
        counts, edges = np.histogram(conf["test"], bins=np.linspace(BINS["start"], BINS["end"], 31))
        fig.add_scatter(x=edges, y=np.append(counts, counts[-1]) / max(1, counts.sum()), mode="lines",
                        line=dict(shape="hv", color="black", width=1.5), name="test samples (never trained on)",
                        showlegend=col == 1, row=1, col=col)
        fig.update_xaxes(title_text="confidence in the true label", range=[0, 1], row=1, col=col)
    fig.update_yaxes(title_text="share of samples", tickformat=".0%", row=1, col=1)
    fig.update_layout(height=380, title="True-label confidence on the forget set (bars) and on test samples (outline)",
                      bargap=0.05, legend=dict(orientation="h", y=-0.25), margin=dict(t=80))
    return fig
