"""Benchmark: every method against the retrained oracle over several seeds (mean and std).

Each seed draws its own random forget set (for random kinds), its own retrained oracle and its
own method seed; the original model is the same for all. Timings are ratios to retraining
within the same run, so they compare across machines. The sweep's tasks (one oracle per seed,
one run per method and seed) run on an executor (`executors`: in this process, or on Ray); a
task that fails is listed under ``failed`` and the others finish.
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from unlearn_core.bench.executors import Executor, LocalExecutor
from unlearn_core.bench.tasks import BenchJob, BenchTask, TaskResult
from unlearn_core.data import SplitDataset
from unlearn_core.forget import resolve
from unlearn_core.methods import MethodConfig, MethodInfo, config_from_strings, get_method, list_methods
from unlearn_core.metrics import HEADLINE_KEYS
from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.progress import ProgressFn, no_progress
from unlearn_core.runs.start_model import obtain_model
from unlearn_core.workspace.store import Workspace

METRICS = HEADLINE_KEYS  # the metrics table's headline (metrics/definitions.py)
MEMORY = ("peak_rss_mb", "cuda_max_allocated_mb")
PER_RUN = ("avg_gap", "time_ratio", "time_s", *MEMORY)
TaskReport = Callable[[TaskResult, int, int], None]


def _mean_std(values: list[float | None]) -> dict[str, float | None]:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return {"mean": None, "std": None}
    return {"mean": float(np.mean(clean)), "std": float(np.std(clean))}


def report_task(result: TaskResult, done: int, total: int) -> None:
    """The sweep's progress on stderr: one line per finished task, with its status."""
    status = f"done in {result.wall_s:.1f} s" if result.ok else f"FAILED: {result.error}"
    print(f"[{done}/{total}] {result.task.describe()}: {status}", file=sys.stderr, flush=True)


def plan_tasks(runnable: list[tuple[str, MethodInfo, MethodConfig]], seeds: int) -> list[BenchTask]:
    """One retrained oracle per seed, then one run per (method, seed), seed-major."""
    oracles = [BenchTask(seed) for seed in range(seeds)]
    runs = [BenchTask(seed, label, info.name, config) for seed in range(seeds) for label, info, config in runnable]
    return oracles + runs


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
    executor: Executor | None = None,
    on_task: TaskReport | None = None,
    original: tuple[SplitClassifier, ModelMeta] | None = None,
) -> dict[str, Any]:
    """Run `methods` (None = every method supporting the forget kind) for seeds 0..seeds-1.

    `executor` defaults to running every task in this process (with `progress`); `on_task`
    is told of each finished task (e.g. `report_task`). With no `workspace_root` the oracles
    and runs live in a temporary workspace removed afterwards. `original` is the model to
    unlearn from (default: the dataset's shipped model, or `model_arch` trained with its recipe);
    the oracles are retrained with its recipe.
    """
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1; got {seeds}")
    names = methods or [m.name for m in list_methods() if m.name != "retrain"]
    category = resolve(forget_spec, data, 0).category
    variants = [parse_variant(n) for n in names]
    runnable = [(label, info, config) for label, info, config in variants if info.supports(category)]
    executor = executor or LocalExecutor(progress)
    with tempfile.TemporaryDirectory(prefix="unlearn-bench-") as scratch:
        root = workspace_root or scratch
        model, meta = original or obtain_model(data, model_arch, device=device, workspace=Workspace(root))
        tasks = plan_tasks(runnable, seeds)
        finished = [0]

        def done(result: TaskResult) -> None:
            finished[0] += 1
            if on_task is not None:
                on_task(result, finished[0], len(tasks))

        results = executor.run(tasks, BenchJob(data, model, meta, forget_spec, device, str(root)), done)
    table = summarize(results)
    return {
        "dataset": data.name,
        "model": meta.arch,
        "forget": forget_spec,
        "seeds": seeds,
        "device": str(device),
        **table,
        "skipped": [label for label, info, _ in variants if not info.supports(category)],
        "executor": executor.name,
    }


def summarize(results: list[TaskResult]) -> dict[str, Any]:
    """Mean ± std per method over its successful seeds, the oracle's row (its metrics from the
    first run of each seed), every run's own figures, and the failed tasks."""
    rows: dict[str, dict[str, list]] = {}
    retrain_rows: dict[str, list] = {k: [] for k in (*METRICS, "retrain_time_s", *MEMORY)}
    runs = []
    seeds_with_oracle_metrics: set[int] = set()
    for result in results:
        s, task = result.summary, result.task
        if s is None:
            continue
        if task.is_oracle:
            for k in ("retrain_time_s", *MEMORY):
                retrain_rows[k].append(s[k])
            continue
        row = rows.setdefault(task.label, {k: [] for k in (*METRICS, *PER_RUN)})
        for k in METRICS:
            row[k].append(s["unlearned"][k])
        for k in PER_RUN:
            row[k].append(s.get(k))
        if task.seed not in seeds_with_oracle_metrics:  # the oracle is shared by every method of this seed
            seeds_with_oracle_metrics.add(task.seed)
            for k in METRICS:
                retrain_rows[k].append(s["retrain"][k])
        runs.append({"method": task.label, "seed": task.seed, "unlearned": s["unlearned"], "retrain": s["retrain"],
                     **{k: s.get(k) for k in (*PER_RUN, "retrain_time_s", "run_id")}})
    failed = [{"method": r.task.label or "retrain", "seed": r.task.seed, "error": r.error}
              for r in results if not r.ok]
    return {
        "retrain": {k: _mean_std(v) for k, v in retrain_rows.items()},
        "methods": {name: {k: _mean_std(v) for k, v in row.items()} for name, row in rows.items()},
        "runs": runs,
        "failed": failed,
    }


def retrain_floor(runs: list[dict[str, Any]]) -> float | None:
    """The noise floor of a sweep: the mean average gap (points) between the retrained oracles of two
    seeds (each seed's oracle as evaluated in its first run), or None with fewer than two seeds.
    For class and concept forget sets every seed forgets the same samples; for random kinds each
    seed draws its own set, so the floor also holds that draw's variation (a seed study,
    `unlearn_core.study`, fixes the forget set)."""
    from unlearn_core.metrics.verdict import pairwise_gaps

    per_seed: dict[int, dict[str, Any]] = {}
    for run in runs:
        if run.get("retrain") is not None:
            per_seed.setdefault(run["seed"], run["retrain"])
    gaps = pairwise_gaps(list(per_seed.values()), [], same=True)
    finite = gaps[np.isfinite(gaps)]
    return float(finite.mean()) if len(finite) else None


def split_methods(text: str) -> list[str]:
    """A comma-separated method list, where a comma followed by ``key=`` continues a variant:
    ``del:localizer=random,budget=0.1,finetune`` -> ``["del:localizer=random,budget=0.1", "finetune"]``."""
    return [m.strip() for m in re.split(r",(?![^,:]*=)", text) if m.strip()]


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
    """A markdown table: one row per method, mean ± std in percent, avg gap, time ratio and peak
    memory (RSS; CUDA max allocated where used); then the failed tasks, if any."""

    def pct(cell: dict[str, float | None]) -> str:
        if cell["mean"] is None:
            return "–"
        return f"{100 * cell['mean']:.1f} ± {100 * cell['std']:.1f}"

    def num(cell: dict[str, float | None] | None, fmt: str) -> str:
        return "–" if cell is None or cell["mean"] is None else format(cell["mean"], fmt)

    def memory(row: dict[str, Any]) -> str:
        cuda = row.get("cuda_max_allocated_mb")
        return num(row.get("peak_rss_mb"), ".0f") + (f" / {num(cuda, '.0f')}" if cuda and cuda["mean"] is not None else "")

    floor = retrain_floor(table.get("runs", []))
    floor_text = "" if floor is None else f"; retraining vs retraining (two seeds' oracles): {floor:.2f} pts"
    head = (
        f"**{table['dataset']}**, forget `{table['forget']}`, model {table['model']}, "
        f"{table['seeds']} seed(s), device {table['device']}{floor_text}\n\n"
        "| method | forget acc | retain acc | test acc | forget-class test acc | MIA-efficacy | avg gap (pts; floor) "
        "| time / retrain "
        "| peak RSS MB (/ CUDA) |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    r = table["retrain"]
    floor_cell = "" if floor is None else f" ({floor:.2f})"
    lines = [f"| retrain (oracle) | {pct(r['forget_acc'])} | {pct(r['retain_acc'])} | {pct(r['test_acc'])} | "
             f"{pct(r['forget_test_acc'])} | {pct(r['mia_efficacy'])} | 0{floor_cell} | 1.00 | {memory(r)} |"]
    for name, m in table["methods"].items():
        gap = m["avg_gap"]
        gap_text = "–" if gap["mean"] is None else f"{gap['mean']:.2f} ± {gap['std']:.2f}{floor_cell}"
        lines.append(
            f"| {name} | {pct(m['forget_acc'])} | {pct(m['retain_acc'])} | {pct(m['test_acc'])} | "
            f"{pct(m['forget_test_acc'])} | {pct(m['mia_efficacy'])} | {gap_text} | {num(m['time_ratio'], '.2f')} | "
            f"{memory(m)} |"
        )
    if table.get("skipped"):
        lines.append(f"\nNot applicable to this forget kind: {', '.join(table['skipped'])}.")
    for failure in table.get("failed", []):
        lines.append(f"\nFailed: {failure['method']} seed {failure['seed']}: {failure['error']}")
    return head + "\n".join(lines)
