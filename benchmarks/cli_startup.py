"""What a command costs to start: `datasets --json`, `--help` and one `unlearn` run, each a fresh
process, in this checkout and in a baseline commit (issue 23: the CLI imports only what a command
needs).

    python benchmarks/cli_startup.py [--baseline fb17471] [--reps 5]

The baseline commit is extracted with ``git archive`` into a temporary folder and run from there
(PYTHONPATH puts it before the installed package); this checkout runs the same way. `unlearn` runs
on digits (`finetune` forgetting `class:3`, CPU, 1 thread) in a workspace of its own per tree whose
retrained oracle is trained by an unmeasured first call, so every measured call reuses it. Writes
``benchmarks/results/timing/cli_startup.json`` (medians of wall and CPU seconds per command and
tree, the load average before the measurements) and prints a table. Judge the figures only from a
run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "timing" / "cli_startup.json"
BASELINE = "fb17471"  # the parent of the commit that made the imports lazy (issue 23)
UNLEARN = ["unlearn", "--dataset", "digits", "--forget", "class:3", "--method", "finetune", "--device", "cpu",
           "--json", "--quiet"]
COMMANDS = {"datasets --json": ["datasets", "--json"], "--help": ["--help"], "unlearn finetune class:3": UNLEARN}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(tree: Path, args: list[str], workspace: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one ``python -m unlearn_core ARGS`` process run from `tree`."""
    extra = ["--workspace", str(workspace)] if args[0] == "unlearn" else []
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-m", "unlearn_core", *args, *extra], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, _children_cpu() - cpu


def extract(commit: str, into: Path) -> Path:
    """The tree of `commit` (tracked files only), written under `into`."""
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(tree: Path, reps: int, scratch: Path) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds of each command of `COMMANDS` over `reps` fresh processes."""
    workspace = scratch / "workspace"
    timed(tree, UNLEARN, workspace)  # trains the oracle: not measured
    out = {}
    for name, args in COMMANDS.items():
        runs = [timed(tree, args, workspace) for _ in range(reps)]
        out[name] = {"wall_s": round(statistics.median(w for w, _ in runs), 2),
                     "cpu_s": round(statistics.median(c for _, c in runs), 2)}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help=f"commit to compare with (default {BASELINE})")
    parser.add_argument("--reps", type=int, default=5, help="processes per command and tree (median)")
    args = parser.parse_args()
    if args.reps < 1:
        parser.error(f"--reps must be at least 1; got {args.reps}")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        scratch = Path(tmp)
        base = extract(args.baseline, scratch / "baseline")
        trees = {f"baseline {args.baseline}": measure(base, args.reps, scratch / "b"),
                 "this checkout": measure(ROOT, args.reps, scratch / "c")}
    record = {"date": time.strftime("%Y-%m-%d"), "machine": platform.machine(), "cpus": os.cpu_count(),
              "python": platform.python_version(), "reps": args.reps, "load_before": round(load, 2),
              "load_after": round(os.getloadavg()[0], 2), "trees": trees}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print("| command | " + " | ".join(f"{t} wall s (CPU s)" for t in trees) + " |")
    print("|---|" + "---|" * len(trees))
    for name in COMMANDS:
        print(f"| `{name}` | " + " | ".join(f"{trees[t][name]['wall_s']} ({trees[t][name]['cpu_s']})" for t in trees) + " |")
    print(f"load average {record['load_before']} before, {record['load_after']} after; written to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
