"""What running in a worker process costs, and how long a second run waits for a shared oracle.

On the built-in digits (shipped model, forget `class:3`), in a fresh workspace:

1. warm-up: one recorded run in this process trains the retrained oracle;
2. `--reps` times each: the same run in this process (`run_tracked`) and in a worker process
   (`start_run`, polled until done). The oracle is reused by both, so the difference of the
   wall times is the worker's overhead (process start, imports, data and model load);
3. a second fresh workspace: two worker runs started together on the same forget set (two
   methods). One trains the oracle; the other waits for it and reports `retrain_waited_s`.

    python benchmarks/run_overhead.py [--method finetune] [--reps 3] [--threads 2]

Prints one JSON object. Run it on an otherwise idle machine: it measures wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _wait_done(workspace, run_ids: list[str], timeout_s: float = 1800.0) -> None:
    import unlearn_core.runs.records as run_records

    end = time.time() + timeout_s
    while time.time() < end:
        rows = [run_records.get(workspace, r) for r in run_ids]
        if all(not row.active for row in rows):
            bad = [f"{row.id}: {row.label} {row.error}" for row in rows if row.status != "done"]
            if bad:
                raise RuntimeError("; ".join(bad))
            return
        time.sleep(0.1)
    raise TimeoutError(f"runs {run_ids} did not finish in {timeout_s} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="finetune")
    parser.add_argument("--second-method", default="neggrad_plus")
    parser.add_argument("--forget", default="class:3")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads here and in the workers")
    args = parser.parse_args()
    os.environ["UNLEARN_WORKER_THREADS"] = str(args.threads)

    import torch

    from unlearn_core.runs.worker import RunRequest, run_tracked, start_run
    from unlearn_core.workspace.store import Workspace

    torch.set_num_threads(args.threads)
    request = RunRequest(dataset="digits", forget=args.forget, method=args.method, device="cpu")
    out: dict = {"method": args.method, "forget": args.forget, "threads": args.threads, "reps": args.reps}
    with tempfile.TemporaryDirectory(prefix="unlearn-overhead-") as tmp:
        ws = Workspace(Path(tmp) / "ws")
        t0 = time.perf_counter()
        first = run_tracked(ws, request, "warm-up")
        out["first_run_s"] = round(time.perf_counter() - t0, 2)
        out["oracle_train_s"] = round(first.summary["retrain_time_s"], 2)
        in_process, worker = [], []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            run_tracked(ws, request, "in process")
            in_process.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            row = start_run(ws, request, "worker")
            _wait_done(ws, [row.id])
            worker.append(time.perf_counter() - t0)
        out["in_process_s"] = [round(t, 2) for t in in_process]
        out["worker_s"] = [round(t, 2) for t in worker]
        out["worker_overhead_s"] = round(statistics.median(worker) - statistics.median(in_process), 2)

        shared = Workspace(Path(tmp) / "shared")
        t0 = time.perf_counter()
        rows = [start_run(shared, request, "first"),
                start_run(shared, RunRequest(**{**request.to_dict(), "method": args.second_method}), "second")]
        _wait_done(shared, [r.id for r in rows])
        out["concurrent_pair_s"] = round(time.perf_counter() - t0, 2)
        summaries = [shared.get(r.id).info for r in rows]
        out["concurrent"] = [
            {k: s[k] for k in ("method", "retrain_reused", "retrain_reason", "retrain_waited_s", "retrain_time_s")}
            for s in summaries
        ]
        out["oracles_trained"] = sum(not s["retrain_reused"] for s in summaries)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
