"""The run history table as the Compare page shows it: friendly names, percentages, and few enough
columns to fit a 1440 px screen (shown as a static table, which wraps instead of cutting columns)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from unlearn_core.runs.one_run import HEADLINE

from .labels import format_value, metric_label
from .names import method_titles


def history_view(rows: pd.DataFrame, forget_name: Callable[[str], str],
                 gap_text: Callable[[str], str] | None = None) -> pd.DataFrame:
    """`rows` (from `unlearn_core.inspect.overview.history_rows`) as the table the Compare page shows.

    Each headline metric is one column "unlearned / retrained" in percent, so a run's distance to
    the reference reads in one cell; the CSV / JSON downloads keep the stored values. `gap_text`
    (run id -> text) writes the average gap with retraining's noise floor beside it
    (`study_view.run_gap_headline`), else the gap alone.
    """
    titles = method_titles(short=True)
    out = pd.DataFrame({
        "run": rows["run"],
        "method": [titles.get(m, m) for m in rows["method"]],
        "forget set": [forget_name(f) for f in rows["forget"]],
        "seed": rows["seed"],
    })
    for key in HEADLINE:
        out[metric_label(key)] = [
            f"{format_value(key, u)} / {format_value(key, r)}"
            for u, r in zip(rows.get(f"unlearned.{key}", [None] * len(rows)),
                            rows.get(f"retrain.{key}", [None] * len(rows)), strict=True)]
    if gap_text is not None:
        out["avg gap, points (retraining vs retraining)"] = [gap_text(r) for r in rows["run"]]
    else:
        out["avg gap (points)"] = rows["avg_gap"].round(2)
    out["time vs retrain"] = [format_value("time_ratio", v) for v in rows["time_ratio"]]
    out["params changed"] = [format_value("params_changed_frac", v) for v in rows["params_changed_frac"]]
    return out
