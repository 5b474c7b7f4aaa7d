"""A seed study: one unlearning request judged against retraining's own seed-to-seed spread.

For one (dataset, original model, forget set, method, settings) the study trains K retrained
models (the recipe at training seeds 0..K-1, each cached in the workspace like a run's oracle) and
runs the method K times (training seeds 0..K-1: member 0 is the ordinary run of the request, and a
stored member is reused, not rerun). The forget set is drawn once, with the request's seed, so
every member forgets the same examples. `retrain` offered as the method runs at seeds K..2K-1, so
it is compared with retrained models of other seeds, not with itself.

The result (the CLI's ``study --json``; fields are a contract, extend never rename):
``retrain`` / ``unlearned``: per metric {"mean", "std", "values"}; ``noise_floor``: what two
retrained models disagree by (`verdict.noise_floor`); ``verdict``: per metric within / outside /
no signal (`verdict` states the test and its false-alarm rate); ``forgetting_quality``: the
challenge's F (`epsilon`), beside ``forgetting_quality_null``, the F that models of one
distribution reach at this K (the ceiling: with 8 seeds it is about 0.18, not 1);
``per_example``: each forget example's ε; ``time_s``.

Tasks run on the benchmark executors (`executors`: here one after the other, or on Ray), through
the same `bench_tasks.run_task` as a benchmark sweep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from unlearn_core.bench.executors import Executor, LocalExecutor
from unlearn_core.bench.members import MEMBER_KEYS
from unlearn_core.bench.tasks import BenchJob, BenchTask, TaskResult
from unlearn_core.data import SplitDataset
from unlearn_core.forget import resolve
from unlearn_core.methods import MethodConfig, get_method
from unlearn_core.metrics import HEADLINE_KEYS
from unlearn_core.metrics.epsilon import DELTA, forgetting_quality, max_scored_epsilon, null_forgetting_quality
from unlearn_core.metrics.verdict import (
    ALPHA,
    MIN_GAP,
    false_alarm_rate,
    judge,
    noise_floor,
    overall,
    pairwise_gaps,
    spread,
)
from unlearn_core.models import ModelMeta, SplitClassifier, state_digest
from unlearn_core.progress import ProgressFn, no_progress
from unlearn_core.runs.one_run import check_supported
from unlearn_core.runs.start_model import obtain_model
from unlearn_core.serialize import to_jsonable
from unlearn_core.workspace.fingerprint import data_fingerprint
from unlearn_core.workspace.store import Entry, Workspace
from unlearn_core.workspace.studies import find_study, save_study, study_key

STUDY_METRICS: tuple[str, ...] = (*HEADLINE_KEYS, *MEMBER_KEYS)
MIN_K = 4  # below 4 seeds per side the permutation test can never reject at 5%
MAX_K = 64
TaskReport = Callable[[TaskResult, int, int], None]


def method_seeds(method: str, k: int) -> list[int]:
    """The unlearned members' training seeds: 0..K-1, or K..2K-1 for `retrain` (independent of
    the retrained members it is compared with)."""
    return list(range(k, 2 * k)) if method == "retrain" else list(range(k))


def plan_study(method: str, config: MethodConfig, k: int) -> list[BenchTask]:
    """K retrained members (oracle tasks, seeds 0..K-1), then K unlearned members."""
    return [BenchTask(s) for s in range(k)] + [BenchTask(s, method, method, config) for s in method_seeds(method, k)]


def check_k(k: int) -> int:
    """K itself, or a ValueError naming --seeds: a study needs `MIN_K`..`MAX_K` members per side
    (with 3 or fewer the permutation test's smallest p-value, 2 / C(2K, K), is above 5%, so no
    difference could ever be called outside; and ε is only resolved to about log(K - 1))."""
    if isinstance(k, bool) or not isinstance(k, int) or not MIN_K <= k <= MAX_K:
        raise ValueError(f"--seeds must be a whole number from {MIN_K} to {MAX_K} (8 is the usual study); got {k!r}")
    return k


def run_study(
    data: SplitDataset,
    forget_spec: str,
    method: str,
    config: MethodConfig | None = None,
    *,
    k: int = 8,
    seed: int = 0,
    device: torch.device,
    workspace_root: str = "workspace",
    executor: Executor | None = None,
    progress: ProgressFn = no_progress,
    on_task: TaskReport | None = None,
    original: tuple[SplitClassifier, ModelMeta] | None = None,
    model_arch: str | None = None,
    reuse: bool = True,
) -> tuple[dict[str, Any], Entry]:
    """Run (or find stored) the seed study of this request and return its result and entry.

    `original` is the model to unlearn from (default: the dataset's shipped model, or `model_arch`
    trained with its recipe); `executor` defaults to this process. With `reuse` a study stored
    under the same request is returned at once (its ``time_s`` is the original computation's;
    ``reused`` says so); members are reused from the workspace in any case.
    """
    start = time.perf_counter()
    check_k(k)
    info = get_method(method)
    config = config if config is not None else info.config_cls()
    forget = resolve(forget_spec, data, seed)
    check_supported(info, forget)
    workspace = Workspace(workspace_root)
    model, meta = original or obtain_model(data, model_arch, device=device, workspace=workspace)
    request = {"dataset": data.name, "data_fingerprint": data_fingerprint(data), "model_digest": state_digest(model),
               "forget": forget_spec, "seed": seed}
    key = study_key(request, method, config.to_dict(), k, info.defaults_revision)
    if reuse and (stored := find_study(workspace, key)) is not None:
        return {**stored.info, "reused": True, "study_id": stored.id}, stored
    executor = executor or LocalExecutor(progress)
    tasks = plan_study(method, config, k)
    finished = [0]

    def done(result: TaskResult) -> None:
        finished[0] += 1
        if on_task is not None:
            on_task(result, finished[0], len(tasks))

    job = BenchJob(data, model, meta, forget_spec, device, str(workspace_root), forget_seed=seed, members=True)
    results = executor.run(tasks, job, done)
    result, scores = summarize_study(results, forget.forget_idx)
    result.update(request)
    result.update(method=method, method_revision=info.defaults_revision, model=meta.arch,
                  config=to_jsonable(config.to_dict()), k=k, device=str(device),
                  executor=executor.name, time_s=time.perf_counter() - start, reused=False)
    entry = save_study(workspace, result, scores, key)
    return {**result, "study_id": entry.id}, entry


def summarize_study(results: list[TaskResult], forget_idx: np.ndarray) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The study's figures from its finished tasks (see the module doc) and the members' scores.

    Failed members are listed under ``failed``; a study needs two members on each side.
    """
    sides: dict[str, list[dict[str, Any]]] = {"retrain": [], "unlearned": []}
    seeds: dict[str, list[int]] = {"retrain": [], "unlearned": []}
    for r in results:
        if r.ok:
            side = "retrain" if r.task.is_oracle else "unlearned"
            sides[side].append(r.summary["member"])
            seeds[side].append(r.task.seed)
    failed = [{"member": "retrain" if r.task.is_oracle else "unlearned", "seed": r.task.seed, "error": r.error}
              for r in results if not r.ok]
    if len(sides["retrain"]) < 2 or len(sides["unlearned"]) < 2:
        reasons = "; ".join(f"{f['member']} seed {f['seed']}: {f['error']}" for f in failed[:3])
        raise ValueError(f"the study needs at least two retrained and two unlearned members; {len(failed)} failed "
                         f"({reasons})")
    values = {side: [m["values"] for m in members] for side, members in sides.items()}
    scores = {side: np.array([m["forget_scores"] for m in members], dtype=np.float64) for side, members in sides.items()}
    quality = forgetting_quality(scores["unlearned"], scores["retrain"])
    verdicts = judge(values["unlearned"], values["retrain"], HEADLINE_KEYS)
    gaps = pairwise_gaps(values["unlearned"], values["retrain"])
    gap_per_member = [float(np.nanmean(row)) if np.isfinite(row).any() else None for row in gaps]
    k = min(len(sides["retrain"]), len(sides["unlearned"]))
    utility = _utility(values)
    result: dict[str, Any] = {
        "retrain": {key: spread([v.get(key) for v in values["retrain"]]) for key in STUDY_METRICS},
        "unlearned": {key: spread([v.get(key) for v in values["unlearned"]]) for key in STUDY_METRICS},
        "noise_floor": noise_floor(values["retrain"], HEADLINE_KEYS),
        "gap_to_retrain": spread(gap_per_member),
        "verdict": verdicts,
        "verdict_overall": overall(verdicts),
        "verdict_rule": {
            "test": "two-sided permutation test of the difference of means (exact below 20,000 splits)",
            "alpha": ALPHA, "min_gap": MIN_GAP, "false_alarm_rate": false_alarm_rate(k),
            "no_signal": "MIA-efficacy's SVC attack within 5 points of 50% on the retrained models",
        },
        "forgetting_quality": quality.score,
        "forgetting_quality_null": null_forgetting_quality(k),
        "forgetting_quality_rule": {"delta": DELTA, "bucket": 0.5, "max_scored_epsilon": max_scored_epsilon(k)},
        "competition_score": None if utility is None or quality.score != quality.score else quality.score * utility,
        "per_example": [{"index": int(i), "epsilon": float(e),
                         "unlearned_median": float(np.median(scores["unlearned"][:, n])),
                         "retrain_median": float(np.median(scores["retrain"][:, n]))}
                        for n, (i, e) in enumerate(zip(forget_idx, quality.epsilons, strict=True))],
        "member_seeds": seeds,
        "members_reused": sum(1 for r in results if r.ok and _reused(r)),
        "run_ids": [r.summary.get("run_id") for r in results if r.ok and not r.task.is_oracle],
        "failed": failed,
    }
    stored_scores = {**scores, "forget_idx": np.asarray(forget_idx, dtype=np.int64)}
    return result, stored_scores


def _reused(result: TaskResult) -> bool:
    """Whether a member was loaded from the workspace rather than computed: a retrained model found
    in the cache, or a stored run (a method run's own summary says whether *its* oracle was cached,
    which does not make the run itself reused)."""
    return bool(result.summary.get("retrain_reused" if result.task.is_oracle else "reused"))


def _utility(values: dict[str, list[dict[str, Any]]]) -> float | None:
    """The challenge's utility factor: (RA_U / RA_R) x (TA_U / TA_R), accuracies averaged over members."""
    means = {side: {k: spread([v.get(k) for v in vals])["mean"] for k in ("retain_acc", "test_acc")}
             for side, vals in values.items()}
    r, u = means["retrain"], means["unlearned"]
    if not r["retain_acc"] or not r["test_acc"] or u["retain_acc"] is None or u["test_acc"] is None:
        return None
    return (u["retain_acc"] / r["retain_acc"]) * (u["test_acc"] / r["test_acc"])
