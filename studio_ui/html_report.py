"""A self-contained HTML report of one run: what was forgotten and how, the metric table against
the original and retrained models, the average gap beside retraining's own seed-to-seed gap (when a
seed study of the request is stored), the seed study itself (bands per metric, F, the ε histogram),
the comparison figures with their explanations, the config.

The plotly library is inlined once, so the file opens offline and can be mailed or archived.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from unlearn_core.inspect.overview import COMPARISON_HELP
from unlearn_core.inspect.relearn import RELEARN_LEVEL, relearn_summary

from .compare_charts import comparison_values, mia_chance_note
from .labels import format_value, metric_label
from .names import method_title
from .study_charts import BANDS_CAPTION, EPSILON_CAPTION, bands_figure, epsilon_figure

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; } th, td { border: 1px solid #ddd; padding: 4px 8px; }
th { background: #f4f4f4; text-align: left; } .caption { color: #555; font-size: 0.9em; margin: 0.3em 0 1em; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""


def _comparison_table(summary: dict[str, Any]) -> str:
    versus = comparison_values(summary)
    rows = [(metric_label(key), format_value(key, versus.get(key)), what, direction)
            for key, (what, direction) in COMPARISON_HELP.items()]
    return pd.DataFrame(rows, columns=["measure", "value", "what it measures", "how to read"]).to_html(
        index=False, border=0)


def _inspection_parts(inspection: dict[str, Any]) -> tuple[list[str], list[tuple[go.Figure, str]]]:
    """The inspection's probe / relearn table and its figures (CKA, prediction matrices, probe, relearn)."""
    from . import inspect_charts as charts

    figures = [(charts.cka_figure(inspection["layers"]), charts.CKA_CAPTION)]
    for side, label in (("forget", "forget samples"), ("test", "test images of the forgotten slice")):
        if (inspection["prediction_matrix"] or {}).get(side) is not None:
            figures.append((charts.prediction_matrices_figure(inspection["prediction_matrix"][side],
                                                              inspection["classes"], label), charts.MATRIX_CAPTION))
    figures.append((charts.probe_figure(inspection["probe"]), charts.probe_caption(inspection["probe"])))
    probe, relearn = inspection["probe"], inspection.get("relearn")
    rows = [["linear probe accuracy (" + probe["what"] + ")", *[_fraction(probe.get(w)) for w in charts.WHO]]]
    if relearn is not None:
        figures.append((charts.relearn_figure(relearn), charts.RELEARN_CAPTION))
        summary = relearn_summary(relearn)  # the figures the Compare page shows, from the same function
        level = f"{100 * RELEARN_LEVEL:.0f}%"
        rows.append([f"steps to relearn (forget accuracy reaches {level}; finetuning on {relearn['shots']} samples)",
                     *[summary[w]["steps_text"] if w in summary else "–" for w in charts.WHO]])
        rows.append([f"forget accuracy after relearning ({relearn['steps'][-1]} steps)",
                     *[summary[w]["final_text"] if w in summary else "–" for w in charts.WHO]])
    table = pd.DataFrame(rows, columns=["measure", *charts.WHO]).to_html(index=False, border=0)
    return ["<h2>Erasure beyond the outputs</h2>", table], figures


def _study_parts(study: dict[str, Any]) -> tuple[list[str], list[tuple[go.Figure, str]]]:
    """The seed study's section (overall verdict, table per metric, rule, F beside its reference)
    and its figures (bands per metric, ε histogram)."""
    from .study_view import VERDICT_WORDS, verdict_frame, verdict_rule_text

    quality, null = study.get("forgetting_quality"), study.get("forgetting_quality_null")
    fq = "–" if quality is None or quality != quality else f"{quality:.3f}"
    parts = [
        "<h2>Against retraining's own spread (seed study)</h2>",
        "<p>" + html.escape(f"Over K = {study['k']} seeds per side, {study['method']} is "
                            f"{VERDICT_WORDS.get(study['verdict_overall'], study['verdict_overall'])}.") + "</p>",
        verdict_frame(study).to_html(index=False, border=0),
        "<p class='caption'>" + html.escape(verdict_rule_text(study).replace("**", "").replace("*", "")) + "</p>",
        "<p>" + html.escape(f"Forgetting quality F = {fq}; retraining against retraining reaches "
                            f"{null:.3f} at this K (the reference, not 1).") + "</p>",
    ]
    return parts, [(bands_figure(study), BANDS_CAPTION), (epsilon_figure(study), EPSILON_CAPTION)]


def _fraction(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def run_report_html(run_id: str, summary: dict[str, Any], metrics: pd.DataFrame,
                    figures: list[tuple[go.Figure, str]], inspection: dict[str, Any] | None = None,
                    forget_name: str | None = None, noise_floor: dict[str, Any] | None = None,
                    study: dict[str, Any] | None = None) -> str:
    """The report page for a stored run: its summary, metric table and (figure, caption) pairs, and
    when given the inspection (`inspect_view.render_inspection`'s result): CKA per layer, prediction
    matrices, probe and relearn results.

    `forget_name` is the name the user gave the forget set (the title uses it; the spec stays in the text).
    `noise_floor` (`workspace.studies.stored_noise_floor`) puts retraining's own gap beside the run's;
    `study` (a stored seed study's result of the same method) adds its section and figures.
    """
    from .study_view import gap_headline

    s = summary
    title = f"Unlearning report: {method_title(s['method'])} forgetting {forget_name or s['forget']} on {s['dataset']}"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>" + html.escape(
            f"Method {s['method']} on model {s['model']}, forget set {forget_name or s['forget']} (spec {s['forget']}, "
            f"{s['n_forget']} samples), "
            f"seed {s['seed']}, device {s.get('device', '?')}, run {run_id}. "
            + ("The model was unlearned elsewhere (external checkpoint)" if s["time_s"] is None
               else f"The method took {s['time_s']:.1f} s")
            + f"; retraining without the forget set took {s['retrain_time_s']:.1f} s.") + "</p>",
        "<p class='caption'>The goal of unlearning is to look like the model retrained without the forget set: "
        "compare every figure with the retrained model's, not with 0 or 100%.</p>",
        "<h2>Metrics</h2>", metrics.to_html(index=False, border=0, na_rep="–"),
    ]
    if note := mia_chance_note(s):
        parts.append(f"<p class='caption'><b>{html.escape(note)}</b></p>")
    parts += ["<h2>Against retraining</h2>",
              "<p>" + html.escape("Average " + gap_headline(s, noise_floor, study) + ".") + "</p>",
              _comparison_table(s)]
    if study is not None:
        extra, study_figures = _study_parts(study)
        parts += extra
        figures = [*study_figures, *figures]
    if inspection is not None:
        extra, inspection_figures = _inspection_parts(inspection)
        parts += extra
        figures = [*figures, *inspection_figures]
    parts.append("<h2>Figures</h2>")
    for position, (fig, caption) in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=position == 0))
        parts.append(f"<p class='caption'>{html.escape(caption)}</p>")
    parts += ["<h2>Method configuration</h2>",
              f"<pre>{html.escape(json.dumps(s.get('config', {}), indent=2))}</pre>", "</body></html>"]
    return "\n".join(parts)


def versus_report_html(versus: dict[str, Any], labels: dict[str, str], studies: dict[str, Any] | None = None, *,
                       forget_name: str | None = None, dataset: str | None = None,
                       cka: dict[str, go.Figure] | None = None) -> str:
    """The report page of run A against run B (`unlearn_core.inspect.versus.versus_inspection`'s
    result; `labels` names the two sides): the metric table with both runs and retraining, the
    two seed studies' test when `studies` (`versus_view.studies_of`) holds both, per-class bars,
    the prediction matrices, the shared projection, both CKA curves (`cka`, when drawn), both
    membership views and the disagreement list, each figure with its explanation."""
    from . import versus_charts as charts

    a, b = versus["a"], versus["b"]
    title = f"Unlearning report: {labels['a']} vs {labels['b']} forgetting {forget_name or a['forget']}"
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>" + html.escape(f"Run A {a['run_id']} ({a['method']}, settings {json.dumps(a['config'])}) against run B "
                            f"{b['run_id']} ({b['method']}, settings {json.dumps(b['config'])}), on "
                            f"{dataset or '?'}, forget set {forget_name or a['forget']} (spec {a['forget']}), "
                            f"seed {a['seed']}; both are read against the one retrained model.") + "</p>",
        "<h2>Metrics</h2>", charts.metric_table(versus, labels).to_html(index=False, border=0),
        f"<p class='caption'>{html.escape(charts.TABLE_CAPTION)}</p>",
    ]
    figures: list[tuple[go.Figure, str]] = []
    both = (studies or {}).get("versus")
    if both is not None:
        from unlearn_core.inspect.versus import STUDY_RULE

        parts += ["<h2>Against retraining's own spread (seed studies)</h2>",
                  "<p>" + html.escape(charts.study_sentence(both, labels)) + "</p>",
                  charts.study_frame(both, labels).to_html(index=False, border=0),
                  f"<p class='caption'>Rule: {html.escape(STUDY_RULE)}.</p>"]
        figures.append((charts.spreads_figure(both, labels), "K values per metric of A, of B and of retraining."))
    if versus["disagreement"]:
        parts += ["<h2>Forget samples on which A and B disagree most</h2>",
                  charts.disagreement_frame(versus, labels, versus["prediction_matrix"]["classes"]).to_html(
                      index=False, border=0),
                  f"<p class='caption'>{html.escape(charts.DISAGREEMENT_CAPTION.split(' Click')[0])}</p>"]
    parts += ["<h2>Membership attack at each model's best threshold</h2>",
              charts.membership_table(versus, labels).to_html(index=False, border=0)]
    figures += [(charts.per_class_figure(versus, labels), charts.PER_CLASS_CAPTION),
                (charts.matrices_figure(versus, labels), charts.MATRIX_CAPTION)]
    if versus.get("projection") is not None:
        first = versus["disagreement"][0]["position"] if versus["disagreement"] else None
        figures.append((charts.projection_figure(versus, labels, first, versus["prediction_matrix"]["classes"]),
                        charts.PROJECTION_CAPTION.split(" click")[0]))
    for side in ("a", "b"):
        if (cka or {}).get(side) is not None:
            figures.append((cka[side], f"{labels[side]}: layer-wise CKA against the original and the retrained model."))
    figures.append((charts.membership_figure(versus, labels), charts.MEMBERSHIP_CAPTION))
    parts.append("<h2>Figures</h2>")
    for position, (fig, caption) in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=position == 0))
        parts.append(f"<p class='caption'>{html.escape(caption)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
