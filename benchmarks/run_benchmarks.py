"""Benchmark every registered method against the retrained oracle and write markdown tables.

    python benchmarks/run_benchmarks.py                      # all suites, 3 seeds
    python benchmarks/run_benchmarks.py --suite digits --seeds 1 --out /tmp/bench.md

Each table row is mean ± std over seeds; "time / retrain" is the method's wall time divided by
the retraining time measured in the same run, so it compares across machines. The retrained
oracles are cached in a fresh temporary workspace (or --workspace), so each is timed here.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from unlearn_core.bench import bench, to_markdown  # noqa: E402
from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.device import pick_device  # noqa: E402
from unlearn_core.methods import list_methods  # noqa: E402

# Every applicable method plus concept poisoning with random labels (targeted is its default).
EVERY_WITH_VARIANTS = [*(m.name for m in list_methods() if m.name != "retrain"), "concept_poisoning:label_mode=random"]

# suite -> list of (dataset, forget spec, methods or None for every applicable one)
SUITES: dict[str, list[tuple[str, str, list[str] | None]]] = {
    "digits": [
        ("digits", "class:3", None),
        ("digits", "random:0.1", None),
        ("digits", "random:0.1@2,5", None),
    ],
    "localizers": [
        ("digits", "random:0.1@2,5", [f"del:localizer={name}" for name in
                                      ("del", "salun", "magnitude", "criticality", "random", "shallowest", "deepest")]),
    ],
    "shapes": [
        ("shapes", "class:3", EVERY_WITH_VARIANTS),
        ("shapes", "random:0.1", None),
        ("shapes", "random:0.1@2,5", None),
        ("shapes", "concept:color=yellow", EVERY_WITH_VARIANTS),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", choices=list(SUITES), help="default: every suite")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workspace", default=None,
                        help="default: a fresh temporary folder, so retraining is timed in this run")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.md"))
    args = parser.parse_args()
    device = pick_device(args.device)
    workspace = args.workspace or tempfile.mkdtemp(prefix="unlearn-bench-")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sections = [
        "# Benchmark: every method against retraining\n",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, device {device}; "
        f"torch {torch.__version__}; {time.strftime('%Y-%m-%d')}. Mean ± std over {args.seeds} seed(s); accuracies in %. "
        "`time / retrain` divides the method's wall time by retraining's, measured in the same run.\n",
    ]
    for suite in args.suite or list(SUITES):
        for dataset, spec, methods in SUITES[suite]:
            start = time.perf_counter()
            table = bench(load_dataset(dataset), spec, methods, seeds=args.seeds, device=device,
                          workspace_root=workspace)
            sections.append(to_markdown(table))
            sections.append(f"\n_{time.perf_counter() - start:.0f} s for this table._\n")
            Path(args.out).write_text("\n".join(sections) + "\n")
            print(f"{dataset} {spec}: done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
