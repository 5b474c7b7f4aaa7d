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
    # Shapes: the methods the issues name plus references (fine-tune, SalUn, SCRUB, Boundary Shrink),
    # so the suite fits in about 70 minutes on a 2-core CPU (a shapes retrain takes 80-100 s there).
    "shapes": [
        ("shapes", "concept:color=yellow", ["concept_poisoning", "concept_poisoning:label_mode=random", "rfa",
                                            "finetune", "salun"]),
        ("shapes", "random:0.1", ["del", "layer_attack", "finetune", "rfa"]),
        ("shapes", "random:0.1@2,5", ["del", "layer_attack", "finetune", "rfa"]),
        ("shapes", "class:3", ["del", "unsir", "layer_attack", "concept_poisoning", "concept_poisoning:label_mode=random",
                               "rfa", "finetune", "salun", "scrub", "boundary_shrink"]),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", choices=list(SUITES), help="default: every suite")
    parser.add_argument("--forget", action="append", help="only the tables with this forget spec (e.g. class:3)")
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
            if args.forget and spec not in args.forget:
                continue
            start = time.perf_counter()
            table = bench(load_dataset(dataset), spec, methods, seeds=args.seeds, device=device,
                          workspace_root=workspace)
            sections.append(to_markdown(table))
            sections.append(f"\n_{time.perf_counter() - start:.0f} s for this table._\n")
            Path(args.out).write_text("\n".join(sections) + "\n")
            print(f"{dataset} {spec}: done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
