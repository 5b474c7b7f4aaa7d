"""Figures and tables of run A against run B (`unlearn_core.inspect.versus`), both against the
retrained model. Plain plotly and pandas from the comparison's dict, so the Compare page and the
HTML report draw the same thing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .charts import MODEL_COLORS
from .labels import format_value, metric_label

COLORS = {"a": "#d62728", "b": "#9467bd", "retrain": MODEL_COLORS["retrain"], "original": MODEL_COLORS["original"]}
HIGHLIGHT = "#111111"

TABLE_CAPTION = ("Each figure of A and of B beside the retrained model's, the reference: the closer run is the one "
                 "nearer retraining (for the gap and the divergences: the lower; Tug-of-War: the higher).")
PER_CLASS_CAPTION = "Test accuracy per class: the bars of A and of B should match the retrained model's, class by class."
MATRIX_CAPTION = ("Rows: what the original model predicts on every forget sample; columns: what A, B and the retrained "
                  "model predict on the same samples (counts). Do A and B send the forgotten samples where retraining "
                  "sends them?")
PROJECTION_CAPTION = ("Each model's predicted class probabilities (log scale) on one projection fitted on the original "
                      "model. Left A, right B: their forget samples in colour, the retrained model's in light green, "
                      "test samples in grey. The chosen forget sample is the black star in both panels, with a ring "
                      "where the retrained model puts it; click a point in either panel to choose it.")
MEMBERSHIP_CAPTION = ("The threshold attack on the scaled confidence log(p / (1 - p)) of the true label, at its best "
                      "threshold for each model: forget samples (members) against unseen test images. A's and B's rows "
                      "should match the retrained model's, not reach 50% everywhere.")
DISAGREEMENT_CAPTION = ("Forget samples on which A and B disagree most: those they predict differently first, then by "
                        "|scaled confidence under A − under B|. Click a row to highlight the sample in the projection.")


def run_label(side: str, run: dict[str, Any], title: str | None = None) -> str:
    """'A: fine-tune' style label of one side of the comparison."""
    return f"{side.upper()}: {title or run.get('method', '?')}"


def metric_table(versus: dict[str, Any], labels: dict[str, str]) -> pd.DataFrame:
    """One row per metric: A, B and the retrained model's figure and which run is closer."""
    closer = {"a": "A", "b": "B", "tie": "tie", None: "–"}
    rows = [{"metric": metric_label(r["metric"]), labels["a"]: format_value(r["metric"], r["a"]),
             labels["b"]: format_value(r["metric"], r["b"]), "retrained": format_value(r["metric"], r["retrain"]),
             "closer to retraining": closer[r["closer"]]} for r in versus["metrics"]]
    return pd.DataFrame(rows)


def per_class_figure(versus: dict[str, Any], labels: dict[str, str]) -> go.Figure:
    """Grouped bars of per-class test accuracy (%): A, B, retrained."""
    pc = versus["per_class"]
    fig = go.Figure()
    for who, name in (("a", labels["a"]), ("b", labels["b"]), ("retrain", "retrained")):
        if pc.get(who) is not None:
            fig.add_bar(x=pc["classes"], y=[100 * v for v in pc[who]], name=name, marker_color=COLORS[who])
    fig.update_layout(title="Test accuracy per class", barmode="group", xaxis_title="class", xaxis_type="category",
                      yaxis_title="test accuracy (%)", yaxis_range=[0, 105], height=360, legend_title="model",
                      margin=dict(t=50, b=40, l=50, r=10))
    return fig


def matrices_figure(versus: dict[str, Any], labels: dict[str, str]) -> go.Figure:
    """original → A, original → B, original → retrained on the forget samples, one colour scale."""
    pm = versus["prediction_matrix"]
    classes = pm["classes"]
    shown = [who for who in ("a", "b", "retrain") if pm.get(who) is not None]
    names = {"a": labels["a"], "b": labels["b"], "retrain": "retrained"}
    fig = make_subplots(rows=1, cols=len(shown), subplot_titles=[f"original → {names[w]}" for w in shown],
                        horizontal_spacing=0.07)
    top = max(1, max(int(np.max(pm[w])) for w in shown))
    for col, who in enumerate(shown, start=1):
        m = np.asarray(pm[who])
        fig.add_heatmap(z=m.tolist(), x=classes, y=classes, colorscale="Blues", zmin=0, zmax=top, showscale=col == len(shown),
                        text=np.where(m > 0, m, "").astype(str), texttemplate="%{text}", colorbar=dict(title="samples"),
                        hovertemplate=f"original predicts %{{y}}<br>{names[who]} predicts %{{x}}<br>%{{z}} samples"
                                      "<extra></extra>", row=1, col=col)
        fig.update_xaxes(title_text="predicted after", type="category", row=1, col=col)
        fig.update_yaxes(type="category", autorange="reversed", row=1, col=col,
                         title_text="predicted by the original" if col == 1 else None)
    fig.update_layout(title=f"Prediction matrices on the forget samples ({pm.get('n', '?')} samples)",
                      height=220 + 26 * len(classes), margin=dict(t=90))
    return fig


def projection_figure(versus: dict[str, Any], labels: dict[str, str], position: int | None,
                      class_names: list[str]) -> go.Figure:
    """A's and B's outputs on the shared projection, side by side; forget points carry their
    position in the inspection sample as customdata (a click picks the sample); the sample at
    `position` is starred in both panels, ringed where the retrained model puts it."""
    proj = versus["projection"]
    n = proj["n_forget"]
    coords = {who: np.asarray(c) for who, c in proj["coords"].items()}
    names = [f"#{i}" for i in proj["train_index"]]
    fig = make_subplots(rows=1, cols=2, shared_xaxes=True, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[labels["a"], labels["b"]])
    for col, who in enumerate(("a", "b"), start=1):
        first = col == 1
        fig.add_scatter(x=coords["original"][n:, 0], y=coords["original"][n:, 1], mode="markers", hoverinfo="skip",
                        name="test samples (original)", marker=dict(size=4, color="#d0d0d0"), showlegend=first,
                        legendgroup="test", row=1, col=col)
        if "retrain" in coords:
            fig.add_scatter(x=coords["retrain"][:n, 0], y=coords["retrain"][:n, 1], mode="markers", hoverinfo="skip",
                            name="forget samples, retrained", showlegend=first, legendgroup="retrain",
                            marker=dict(size=6, color="rgba(44,160,44,0.35)"), row=1, col=col)
        fig.add_scatter(x=coords[who][:n, 0], y=coords[who][:n, 1], mode="markers", name=f"forget samples, {labels[who]}",
                        customdata=np.arange(n), text=names,
                        hovertemplate=f"{labels[who]}<br>sample %{{text}}<extra></extra>",
                        marker=dict(size=7, color=COLORS[who], opacity=0.75), row=1, col=col)
        if position is not None and 0 <= position < n:
            fig.add_scatter(x=[coords[who][position, 0]], y=[coords[who][position, 1]], mode="markers",
                            name=f"chosen sample {names[position]}", showlegend=first, legendgroup="chosen",
                            hovertemplate=f"chosen sample {names[position]} under {labels[who]}<extra></extra>",
                            marker=dict(size=18, symbol="star", color=HIGHLIGHT, line=dict(width=1.5, color="white")),
                            row=1, col=col)
            if "retrain" in coords:
                fig.add_scatter(x=[coords["retrain"][position, 0]], y=[coords["retrain"][position, 1]],
                                mode="markers", name=f"{names[position]} under the retrained model", showlegend=first,
                                legendgroup="chosen_retrain", hoverinfo="skip",
                                marker=dict(size=18, symbol="circle-open", color=HIGHLIGHT, line=dict(width=2.5)),
                                row=1, col=col)
    name = proj["projection"].upper()
    fig.update_xaxes(title_text=f"{name} 1")
    fig.update_yaxes(title_text=f"{name} 2", row=1, col=1)
    chosen = "" if position is None else f": sample {names[position]} ({_label_of(proj, position, class_names)})"
    fig.update_layout(height=520, title=f"Both models on one shared {name} projection{chosen}",
                      legend=dict(orientation="h", yanchor="top", y=-0.14), clickmode="event+select",
                      margin=dict(t=80))
    return fig


def _label_of(proj: dict[str, Any], position: int, class_names: list[str]) -> str:
    label = int(proj["labels"][position])
    return f"label {class_names[label]}" if 0 <= label < len(class_names) else f"label {label}"


def cka_titled(fig: go.Figure, label: str) -> go.Figure:
    """A copy of a CKA figure titled for one side of the comparison."""
    out = go.Figure(fig)
    out.update_layout(title=f"{label}: layer-wise CKA", height=400, legend=dict(orientation="h", y=-0.3))
    return out


def membership_table(versus: dict[str, Any], labels: dict[str, str]) -> pd.DataFrame:
    """The scaled-confidence attack at each model's best threshold: accuracy, TPR, FPR (%)."""
    names = {"original": "original", "a": labels["a"], "b": labels["b"], "retrain": "retrained"}
    rows = []
    for who, attack in versus["membership"]["scaled_confidence"].items():
        if attack is not None:
            rows.append({"model": names[who], "attack accuracy": format_value("mia_efficacy", attack["accuracy"]),
                         "TPR (forget called member)": format_value("mia_efficacy", attack["tpr"]),
                         "FPR (test called member)": format_value("mia_efficacy", attack["fpr"]),
                         "best threshold": f"{attack['threshold']:.2f}"})
    return pd.DataFrame(rows)


def membership_figure(versus: dict[str, Any], labels: dict[str, str]) -> go.Figure:
    """Scaled confidence on the forget samples, A's panel and B's, each with the retrained model's
    forget samples (green outline) and unseen test images under that model (grey)."""
    sc = versus["scaled_confidence"]
    values = np.concatenate([np.asarray(v[side]) for v in sc.values() for side in ("forget", "nonmember")])
    values = values[np.isfinite(values)]
    low, high = (float(values.min()), float(values.max())) if len(values) else (-10.0, 10.0)
    edges = np.linspace(low, high + 1e-9, 31)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=[labels["a"], labels["b"]])
    for col, who in enumerate(("a", "b"), start=1):
        first = col == 1
        fig.add_histogram(x=sc[who]["forget"], xbins=dict(start=low, end=high + 1e-9, size=(high - low) / 30 or 1),
                          histnorm="probability", name="forget samples (this model)", marker_color=COLORS[who],
                          opacity=0.7, showlegend=False, row=1, col=col)
        for key, side, color, name in (("retrain", "forget", COLORS["retrain"], "forget samples, retrained"),
                                       (who, "nonmember", "#555555", "unseen test images (this model)")):
            if key not in sc:
                continue
            counts, _ = np.histogram(sc[key][side], bins=edges)
            fig.add_scatter(x=edges, y=np.append(counts, counts[-1]) / max(1, counts.sum()), mode="lines",
                            line=dict(shape="hv", color=color, width=1.8), name=name, showlegend=first,
                            row=1, col=col)
        fig.update_xaxes(title_text="scaled confidence log(p / (1 − p))", row=1, col=col)
    fig.update_yaxes(title_text="share of samples", tickformat=".0%", row=1, col=1)
    fig.update_layout(height=380, title="Membership view: scaled confidence of the true label", bargap=0.05,
                      legend=dict(orientation="h", y=-0.3), margin=dict(t=80))
    return fig


def disagreement_frame(versus: dict[str, Any], labels: dict[str, str], class_names: list[str]) -> pd.DataFrame:
    """The disagreement list as a table: sample, |scaled A − scaled B|, predictions and confidences of A, B, retrained."""
    def cls(i: int | None) -> str:
        return "–" if i is None else class_names[i] if 0 <= i < len(class_names) else str(i)

    rows = []
    for r in versus["disagreement"]:
        row = {"sample": f"#{r['train_index']}", "|scaled A − scaled B|": f"{r['gap']:.2f}",
               f"{labels['a']} predicts": cls(r.get("a_prediction")),
               f"{labels['b']} predicts": cls(r.get("b_prediction")), "retrained predicts": cls(r.get("retrain_prediction")),
               f"{labels['a']} confidence": format_value("forget_acc", r.get("a_confidence")),
               f"{labels['b']} confidence": format_value("forget_acc", r.get("b_confidence")),
               "retrained confidence": format_value("forget_acc", r.get("retrain_confidence"))}
        rows.append(row)
    return pd.DataFrame(rows)


def study_frame(study: dict[str, Any], labels: dict[str, str]) -> pd.DataFrame:
    """The two studies per metric: A and B (mean ± std over K seeds), retraining's range, the
    difference, the permutation p-value and whether they differ beyond noise."""
    def ms(s: dict[str, Any] | None, key: str) -> str:
        if not s or s.get("mean") is None:
            return "–"
        return f"{format_value(key, s['mean'])} ± {format_value(key, s['std'])}"

    rows = []
    for r in study["metrics"]:
        key, ref = r["metric"], r.get("retrain") or {}
        values = ref.get("values") or []
        rng = f"{format_value(key, min(values))} – {format_value(key, max(values))}" if values else "–"
        rows.append({"metric": metric_label(key), labels["a"]: ms(r["a"], key), labels["b"]: ms(r["b"], key),
                     "retrained (range)": rng,
                     "A − B": "–" if r["difference"] is None else f"{100 * r['difference']:+.2f} pts",
                     "p (permutation)": "–" if r["p_value"] is None else f"{r['p_value']:.3f}",
                     "A and B differ beyond noise": "–" if r["differ"] is None else "yes" if r["differ"] else "no"})
    return pd.DataFrame(rows)


def study_sentence(study: dict[str, Any], labels: dict[str, str]) -> str:
    """One sentence: on which metrics A and B differ beyond noise, with K."""
    k = study["k"]
    what = ", ".join(metric_label(m) for m in study["differ_on"])
    head = f"Over K = {k['a']} (A) and K = {k['b']} (B) seeds, "
    if what:
        return head + f"{labels['a']} and {labels['b']} differ beyond noise on {what}."
    return head + f"{labels['a']} and {labels['b']} do not differ beyond noise on any metric."


def spreads_figure(study: dict[str, Any], labels: dict[str, str]) -> go.Figure:
    """Per metric: retraining's values (band from min to max, green), A's and B's seed values (dots)."""
    rows = [r for r in study["metrics"] if r["metric"] != "mia_attack_acc"]
    fig = make_subplots(rows=1, cols=max(1, len(rows)), subplot_titles=[metric_label(r["metric"]) for r in rows],
                        horizontal_spacing=0.05)
    for col, r in enumerate(rows, start=1):
        for y, who, name in ((2, "retrain", "retrained"), (1, "a", labels["a"]), (0, "b", labels["b"])):
            values = (r.get(who) or {}).get("values") or []
            fig.add_scatter(x=[100 * v for v in values], y=[y] * len(values), mode="markers", name=name,
                            marker=dict(size=9, color=COLORS[who], opacity=0.8), showlegend=col == 1,
                            legendgroup=who, row=1, col=col)
        fig.update_yaxes(tickvals=[0, 1, 2], ticktext=[labels["b"], labels["a"], "retrained"] if col == 1 else
                         ["", "", ""], range=[-0.6, 2.6], row=1, col=col)
        fig.update_xaxes(title_text="%", row=1, col=col)
    fig.update_layout(height=300, title="Seed studies: K values of A, of B and of retraining per metric",
                      legend=dict(orientation="h", y=-0.35), margin=dict(t=80))
    return fig
