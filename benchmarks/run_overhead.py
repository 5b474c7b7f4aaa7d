"""What running in a worker process costs, warm (a standby worker) and cold (a fresh process), and how
long a second run waits for a shared oracle.

On the built-in digits (shipped model, forget `class:3`), in a fresh workspace:

1. warm-up: one recorded run in this process trains the retrained oracle;
2. `--reps` rounds, each of: the same run in this process (`run_tracked`); in a standby worker of
   the pool (`start_run` once the standby is ready, as after the app has been open a few seconds;
   the pool's replacement standby starts importing beside the run, as it does in the app); in a
   fresh worker process (the pool turned off: ``UNLEARN_STANDBY_WORKERS=0``). Each is timed from
   the call to the run's end (polled every 0.1 s). The oracle is reused by all, so the difference
   of the median wall times is a worker's overhead (process start or hand-over, imports, data and
   model load, and for the warm worker the replacement standby's imports beside it); the
   ``*_start_latency_s`` lists say how much of it came before the run started (from its record);
3. a second fresh workspace: two worker runs started together on the same forget set (two
   methods). One trains the oracle; the other waits for it and reports `retrain_waited_s`.

    python benchmarks/run_overhead.py [--method finetune] [--reps 3] [--threads 2]
    python benchmarks/run_overhead.py --render-only   # docs/runs.md's paragraph from the stored JSON

Writes ``benchmarks/results/timing/run_overhead.json`` (with the load average before and after)
and regenerates the figures paragraph of docs/runs.md from it. Run it on an otherwise idle
machine: it measures wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "timing" / "run_overhead.json"
DOC = ROOT / "docs" / "runs.md"
START, END = "<!-- run_overhead.json: start -->", "<!-- run_overhead.json: end -->"
READY_TIMEOUT_S = 600.0


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


def _timed_worker_run(workspace, request, title: str) -> tuple[float, float, int]:
    """(seconds from `start_run` to the run's end, of them the seconds until the worker started the
    run (process start or hand-over, imports), the pid that executed it)."""
    import unlearn_core.runs.records as run_records
    from unlearn_core.runs.worker import start_run

    t0 = time.perf_counter()
    row = start_run(workspace, request, title)
    _wait_done(workspace, [row.id])
    seconds = time.perf_counter() - t0
    done = run_records.get(workspace, row.id)
    return seconds, done.started - done.created, row.pid


def measure(args: argparse.Namespace) -> dict:
    """The figures of one benchmark run (see the module's docstring)."""
    import torch

    from unlearn_core.runs import worker
    from unlearn_core.runs.pool import SIZE_ENV
    from unlearn_core.workspace.store import Workspace

    torch.set_num_threads(args.threads)
    request = worker.RunRequest(dataset="digits", forget=args.forget, method=args.method, device="cpu")
    out: dict = {"date": time.strftime("%Y-%m-%d"), "machine": platform.machine(), "cpus": os.cpu_count(),
                 "python": platform.python_version(), "load_before": round(os.getloadavg()[0], 2),
                 "method": args.method, "forget": args.forget, "threads": args.threads, "reps": args.reps}
    with tempfile.TemporaryDirectory(prefix="unlearn-overhead-") as tmp:
        ws = Workspace(Path(tmp) / "ws")
        t0 = time.perf_counter()
        worker.warm_pool()
        first = worker.run_tracked(ws, request, "warm-up")  # the standby imports meanwhile
        out["first_run_s"] = round(time.perf_counter() - t0, 2)
        out["oracle_train_s"] = round(first.summary["retrain_time_s"], 2)
        times: dict[str, list[float]] = {"in_process_s": [], "warm_worker_s": [], "cold_worker_s": [],
                                         "warm_start_latency_s": [], "cold_start_latency_s": []}
        for _ in range(args.reps):
            t0 = time.perf_counter()
            worker.run_tracked(ws, request, "in process")
            times["in_process_s"].append(time.perf_counter() - t0)

            os.environ.pop(SIZE_ENV, None)
            worker.warm_pool()
            t0 = time.perf_counter()
            if not worker.wait_pool_ready(READY_TIMEOUT_S):
                raise RuntimeError("the standby worker did not get ready")
            out.setdefault("standby_wait_s", []).append(round(time.perf_counter() - t0, 2))
            (standby,) = worker.standby_pids()
            seconds, latency, pid = _timed_worker_run(ws, request, "warm worker")
            if pid != standby:
                raise RuntimeError(f"the run went to process {pid}, not the standby {standby}")
            times["warm_worker_s"].append(seconds)
            times["warm_start_latency_s"].append(latency)

            os.environ[SIZE_ENV] = "0"
            worker.warm_pool()  # size 0: closes the standbys
            seconds, latency, _ = _timed_worker_run(ws, request, "cold worker")
            times["cold_worker_s"].append(seconds)
            times["cold_start_latency_s"].append(latency)
        os.environ.pop(SIZE_ENV, None)
        out.update({k: [round(t, 2) for t in v] for k, v in times.items()})
        in_process = statistics.median(times["in_process_s"])
        out["warm_overhead_s"] = round(statistics.median(times["warm_worker_s"]) - in_process, 2)
        out["cold_overhead_s"] = round(statistics.median(times["cold_worker_s"]) - in_process, 2)

        shared = Workspace(Path(tmp) / "shared")
        worker.warm_pool()
        worker.wait_pool_ready(READY_TIMEOUT_S)
        t0 = time.perf_counter()
        rows = [worker.start_run(shared, request, "first"),
                worker.start_run(shared, worker.RunRequest(**{**request.to_dict(), "method": args.second_method}),
                                 "second")]
        _wait_done(shared, [r.id for r in rows])
        out["concurrent_pair_s"] = round(time.perf_counter() - t0, 2)
        summaries = [shared.get(r.id).info for r in rows]
        out["concurrent"] = [
            {k: s[k] for k in ("method", "retrain_reused", "retrain_reason", "retrain_waited_s", "retrain_time_s")}
            for s in summaries
        ]
        out["oracles_trained"] = sum(not s["retrain_reused"] for s in summaries)
        worker.close_pool()
    out["load_after"] = round(os.getloadavg()[0], 2)
    return out


def render(figures: dict) -> str:
    """docs/runs.md's paragraph of figures, from a stored benchmark record."""
    med = {k: statistics.median(figures[k]) for k in ("in_process_s", "warm_worker_s", "cold_worker_s")}
    waited = max(c["retrain_waited_s"] or 0.0 for c in figures["concurrent"])
    trained = next(c["retrain_time_s"] for c in figures["concurrent"] if not c["retrain_reused"])
    return (
        f"`python benchmarks/run_overhead.py` measures what the worker process costs; these figures are read from "
        f"`benchmarks/results/timing/run_overhead.json` (measured {figures['date']}, {figures['cpus']} cores, load "
        f"average {figures['load_before']} before and {figures['load_after']} after). On digits (`{figures['method']}` "
        f"forgetting `{figures['forget']}`, {figures['threads']} threads, median of {figures['reps']}) a run took "
        f"{med['in_process_s']:.1f} s in the calling process, {med['warm_worker_s']:.1f} s in a standby worker and "
        f"{med['cold_worker_s']:.1f} s in a fresh worker process: **{figures['warm_overhead_s']:.1f} s of overhead "
        f"per run with the pool warm**, {figures['cold_overhead_s']:.1f} s without it (most of that importing "
        f"torch, scikit-learn and the library in the fresh process): the run started "
        f"{statistics.median(figures['warm_start_latency_s']):.2f} s after the call in a standby worker and "
        f"{statistics.median(figures['cold_start_latency_s']):.1f} s after it in a fresh one. Two runs started together on a fresh "
        f"workspace trained **{figures['oracles_trained']}** oracle ({trained:.1f} s); the other waited "
        f"**{waited:.1f} s** for it and reused it."
    )


def write_doc(figures: dict) -> None:
    """Replace the paragraph between the markers in docs/runs.md with `render(figures)`."""
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{render(figures)}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="finetune")
    parser.add_argument("--second-method", default="neggrad_plus")
    parser.add_argument("--forget", default="class:3")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads here and in the workers")
    parser.add_argument("--render-only", action="store_true", help="only regenerate docs/runs.md from the stored JSON")
    args = parser.parse_args()
    if args.render_only:
        write_doc(json.loads(OUT.read_text()))
        return 0
    if args.reps < 1 or args.threads < 1:
        parser.error("--reps and --threads must be at least 1")
    os.environ["UNLEARN_WORKER_THREADS"] = str(args.threads)
    figures = measure(args)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=1) + "\n")
    write_doc(figures)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
