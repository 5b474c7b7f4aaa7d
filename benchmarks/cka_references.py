"""Layer CKA of unlearned models against retraining, with the references of issue 22 (item 4):
per layer, the ceiling (the retrained model vs a second retrained model of another seed) and the
floor (the retrained model vs an untrained network), biased and debiased
(`unlearn_core.inspect.cka`). Writes benchmarks/results/cka/references.json; ``--table`` prints
the table of docs/inspection.md from that file (its figures are never typed by hand).

    python benchmarks/cka_references.py                 # measure (digits and shapes, class:3)
    python benchmarks/cka_references.py --only digits   # one dataset
    python benchmarks/cka_references.py --table         # the docs/inspection.md table from the stored file

The shipped models, run seed 0, the inspection's defaults (300 images per side); the runs and
both retrained models are cached in ``--workspace``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.inspect import cka_references, inspection_sample, layer_similarity, load_run  # noqa: E402
from unlearn_core.runs.one_run import unlearn_run  # noqa: E402
from unlearn_core.runs.start_model import obtain_model  # noqa: E402
from unlearn_core.workspace.store import Workspace  # noqa: E402

RESULT = Path(__file__).parent / "results" / "cka" / "references.json"
CASES = (("digits", "class:3"), ("shapes", "class:3"))
METHODS = ("del", "finetune", "rfa")  # the inspection table of docs/inspection.md
CPU = torch.device("cpu")


def measure_case(dataset: str, forget: str, workspace: Workspace, *, seed: int = 0) -> dict[str, Any]:
    """Every method's layer rows (`LayerSimilarity.rows`) on the forget and test samples, with the references."""
    data = load_dataset(dataset)
    model, meta = obtain_model(data, device=CPU, workspace=workspace)
    out: dict[str, Any] = {"dataset": dataset, "forget": forget, "seed": seed, "methods": {}}
    refs = None
    for method in METHODS:
        start = time.perf_counter()
        record = unlearn_run(data, model, meta, forget, method, seed=seed, device=CPU, workspace=workspace)
        run = load_run(workspace, record.entry.id, model, data)
        refs = refs if refs is not None else cka_references(run, device=CPU)  # one retrained pair per case
        sample = inspection_sample(data, run.forget, seed=seed)
        rows = layer_similarity(run.models, data, sample, device=CPU, references=refs).rows()
        out["methods"][method] = {"run_id": record.entry.id, "layers": rows,
                                  "forget_acc": record.summary["unlearned"].get("forget_acc"),
                                  "seconds": round(time.perf_counter() - start, 1)}
        out["n_forget_sample"] = len(sample.forget_idx)
        print(f"{dataset} {forget} {method}: {out['methods'][method]['seconds']} s", flush=True)
    return out


def table(results: dict[str, Any]) -> str:
    """docs/inspection.md's table: per case and layer, the references and each method's CKA to retraining."""
    lines = []
    for case in results["cases"]:
        methods = list(case["methods"])
        layers = [row["name"] for row in case["methods"][methods[0]]["layers"]]
        lines += [f"**{case['dataset']} `{case['forget']}`** (forget images; biased / debiased)", "",
                  "| layer | floor: untrained | ceiling: retrained, seed 1 | "
                  + " | ".join(methods) + " | original |",
                  "|---" * (len(methods) + 4) + "|"]
        for i, name in enumerate(layers):
            first = case["methods"][methods[0]]["layers"][i]

            def pair(row: dict[str, Any], key: str) -> str:
                return f"{row[f'cka_{key}']:.2f} / {row[f'cka_{key}_debiased']:.2f}"

            cells = [pair(first, "floor"), pair(first, "ceiling")]
            cells += [pair(case["methods"][m]["layers"][i], "vs_retrain") for m in methods]
            cells.append(pair(first, "original_vs_retrain"))
            lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", default="workspace", help="where runs and retrained models are cached")
    parser.add_argument("--only", choices=[d for d, _ in CASES], help="measure one dataset (merged into the file)")
    parser.add_argument("--table", action="store_true", help="print the docs/inspection.md table from the stored file")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(RESULT.read_text())))
        return
    torch.set_num_threads(1)
    workspace = Workspace(args.workspace)
    previous = json.loads(RESULT.read_text()) if RESULT.exists() else {"cases": []}
    cases = {(c["dataset"], c["forget"]): c for c in previous["cases"]}
    start = time.perf_counter()
    for dataset, forget in CASES:
        if args.only in (None, dataset):
            cases[(dataset, forget)] = measure_case(dataset, forget, workspace)
    results = {"date": date.today().isoformat(), "machine": platform.machine(), "torch": torch.__version__,
               "device": "cpu", "threads": 1, "elapsed_s": round(time.perf_counter() - start, 1),
               "cases": [cases[k] for k in CASES if k in cases]}
    RESULT.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
