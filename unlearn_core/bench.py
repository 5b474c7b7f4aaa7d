"""Benchmark: every method against the retrained oracle over several seeds (mean and std).

Each seed draws its own random forget set (for random kinds), its own retrained oracle and its
own method seed; the original model is the same for all. Timings are ratios to retraining
within the same run, so they compare across machines.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .data import SplitDataset
from .forget import resolve
from .methods import MethodConfig, MethodInfo, config_from_strings, get_method, list_methods
from .metrics import HEADLINE_KEYS
from .models.defaults import obtain_model
from .progress import ProgressFn, no_progress
from .runs import unlearn_run
from .store import Workspace

METRICS = HEADLINE_KEYS  # the metrics table's headline (metrics/definitions.py)


def _mean_std(values: list[float | None]) -> dict[str, float | None]:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return {"mean": None, "std": None}
    return {"mean": float(np.mean(clean)), "std": float(np.std(clean))}


def bench(
    data: SplitDataset,
    forget_spec: str,
    methods: list[str] | None,
    *,
    seeds: int,
    device: torch.device,
    model_arch: str | None = None,
    workspace_root: str | None = "workspace",
    progress: ProgressFn = no_progress,
) -> dict[str, Any]:
    """Run `methods` (None = every method supporting the forget kind) for seeds 0..seeds-1."""
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1; got {seeds}")
    workspace = Workspace(workspace_root) if workspace_root else None
    model, meta = obtain_model(data, model_arch, device=device, workspace=workspace)
    names = methods or [m.name for m in list_methods() if m.name != "retrain"]
    category = resolve(forget_spec, data, 0).category
    variants = [parse_variant(n) for n in names]
    runnable = [(label, info, config) for label, info, config in variants if info.supports(category)]
    rows: dict[str, dict[str, list]] = {}
    retrain_rows: dict[str, list] = {k: [] for k in METRICS}
    for seed in range(seeds):
        for position, (label, info, config) in enumerate(runnable):
            s = unlearn_run(
                data, model, meta, forget_spec, info.name, config, seed=seed, device=device,
                workspace=workspace, progress=progress,
            ).summary
            row = rows.setdefault(label, {k: [] for k in (*METRICS, "avg_gap", "time_ratio", "time_s")})
            for k in METRICS:
                row[k].append(s["unlearned"][k])
            for k in ("avg_gap", "time_ratio", "time_s"):
                row[k].append(s[k])
            if position == 0:  # the oracle is shared by every method of this seed
                for k in METRICS:
                    retrain_rows[k].append(s["retrain"][k])
    skipped = [label for label, info, _ in variants if not info.supports(category)]
    return {
        "dataset": data.name,
        "model": meta.arch,
        "forget": forget_spec,
        "seeds": seeds,
        "device": str(device),
        "retrain": {k: _mean_std(v) for k, v in retrain_rows.items()},
        "methods": {name: {k: _mean_std(v) for k, v in row.items()} for name, row in rows.items()},
        "skipped": skipped,
    }


def parse_variant(text: str) -> tuple[str, MethodInfo, MethodConfig]:
    """``name`` or ``name:key=value,key=value`` (e.g. ``del:localizer=random``) -> a method
    and its config; the text is the row label."""
    name, _, settings = text.partition(":")
    info = get_method(name.strip())
    values = dict(item.split("=", 1) for item in settings.split(",") if "=" in item)
    if settings and not values:
        raise ValueError(f"bad method variant {text!r}; use name:key=value,key=value")
    return text.strip(), info, config_from_strings(info.config_cls, values)


def to_markdown(table: dict[str, Any]) -> str:
    """A markdown table: one row per method, mean ± std in percent, avg gap and time ratio."""

    def pct(cell: dict[str, float | None]) -> str:
        if cell["mean"] is None:
            return "–"
        return f"{100 * cell['mean']:.1f} ± {100 * cell['std']:.1f}"

    head = (
        f"**{table['dataset']}**, forget `{table['forget']}`, model {table['model']}, "
        f"{table['seeds']} seed(s), device {table['device']}\n\n"
        "| method | forget acc | retain acc | test acc | forget-class test acc | MIA-efficacy | avg gap (pts) | time / retrain |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    r = table["retrain"]
    lines = [f"| retrain (oracle) | {pct(r['forget_acc'])} | {pct(r['retain_acc'])} | {pct(r['test_acc'])} | "
             f"{pct(r['forget_test_acc'])} | {pct(r['mia_efficacy'])} | 0 | 1.00 |"]
    for name, m in table["methods"].items():
        gap = m["avg_gap"]
        ratio = m["time_ratio"]
        lines.append(
            f"| {name} | {pct(m['forget_acc'])} | {pct(m['retain_acc'])} | {pct(m['test_acc'])} | "
            f"{pct(m['forget_test_acc'])} | {pct(m['mia_efficacy'])} | "
            f"{gap['mean']:.2f} ± {gap['std']:.2f} | {ratio['mean']:.2f} |"
        )
    if table.get("skipped"):
        lines.append(f"\nNot applicable to this forget kind: {', '.join(table['skipped'])}.")
    return head + "\n".join(lines)
