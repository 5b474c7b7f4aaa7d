"""Scale benchmark: where retraining is expensive. ResNet-18 on concept shapes at growing sizes,
every seed method and the strongest baselines against the retrained oracle, over seeds.

    python benchmarks/run_scale.py                                   # 3 sizes, 3 seeds, every method
    python benchmarks/run_scale.py --sizes 600 --seeds 1 --methods finetune --epochs 2 --out /tmp/scale
    python benchmarks/run_scale.py --render-only                     # rewrite table and plot from the JSON

For each size the original model is trained with the recipe (SGD, momentum 0.9, weight decay
5e-4, cosine schedule, as the CIFAR-10 / ResNet-18 papers do, with fewer epochs), then `bench`
runs one retrained oracle per seed and every (method, seed), timing each in the same run; the
time ratio is the method's wall time over retraining's. Each size is stored as
``<out>/shapes_n<size>.json`` (the bench table plus the set-up); ``results.md`` and
``time_ratio.png`` are rendered from those files, so a size can be rerun alone.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from unlearn_core.bench.executors import make_executor  # noqa: E402
from unlearn_core.bench.sweep import bench, report_task, split_methods  # noqa: E402
from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.device import pick_device  # noqa: E402
from unlearn_core.models.defaults import train_model  # noqa: E402
from unlearn_core.recipes import recipe_for  # noqa: E402

SEED_METHODS = ["del", "unsir", "layer_attack", "rfa", "concept_poisoning"]
BASELINES = ["finetune", "scrub", "salun"]  # the strongest baselines of the shapes / digits tables
OUT = ROOT / "benchmarks" / "scale"


def run_size(n_train: int, args: argparse.Namespace, device: torch.device) -> dict:
    """Train the original at this size, run the sweep, and return the stored record."""
    data = load_dataset("shapes", n_train=n_train, n_test=max(600, n_train // 5))
    overrides = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr)) if v is not None}
    recipe = recipe_for("shapes", "resnet18", seed=0, **overrides)
    start = time.perf_counter()
    model, meta, _ = train_model(data, "resnet18", recipe, device=device, arch_options={"width": args.width})
    train_s = time.perf_counter() - start
    print(f"n={n_train}: original trained in {train_s:.0f} s, test acc {meta.metrics['test_acc']:.3f}",
          file=sys.stderr, flush=True)
    executor = make_executor(args.executor, address=args.address, ray_cpus=args.ray_cpus, task_cpus=args.task_cpus)
    with tempfile.TemporaryDirectory(prefix="unlearn-scale-") as workspace:  # every oracle timed here
        table = bench(data, args.forget, split_methods(args.methods), seeds=args.seeds, device=device,
                      workspace_root=workspace, original=(model, meta), executor=executor, on_task=report_task)
    return {
        "n_train": n_train, "n_test": len(data.test), "width": args.width, "recipe": recipe.to_dict(),
        "original_test_acc": meta.metrics["test_acc"], "original_train_s": train_s,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, device {device}",
        "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"), "table": table,
    }


def load_records(out: Path) -> list[dict]:
    """Every stored size, smallest first."""
    return sorted((json.loads(p.read_text()) for p in out.glob("shapes_n*.json")), key=lambda r: r["n_train"])


def to_markdown(records: list[dict]) -> str:
    """One table: per method and size, average gap to retraining (points) / time as a share of retraining."""
    methods = list(dict.fromkeys(m for r in records for m in r["table"]["methods"]))
    sizes = " | ".join(f"n = {r['n_train']}" for r in records)
    first = records[0]
    lines = [
        "# Scale benchmark: ResNet-18 on concept shapes, retraining timed in the same run\n",
        f"ResNet-18 (CIFAR stem, width {first['width']}), forget `{first['table']['forget']}`, "
        f"{first['table']['seeds']} seed(s), mean over seeds; recipe {json.dumps(first['recipe'])}; "
        f"{first['machine']}; torch {first['torch']}; {first['date']}.\n",
        "Cell: average gap to the retrained model in points (lower is better) / method time as a share of "
        "retraining (mean ± std over seeds of the gap; `–`: not run or failed).\n",
        f"| method | {sizes} |",
        "|---|" + "---|" * len(records),
        "| retrain: time (s) | " + " | ".join(_cell(r["table"]["retrain"]["retrain_time_s"], ".0f") for r in records) + " |",
        "| original test acc | " + " | ".join(f"{100 * r['original_test_acc']:.1f}%" for r in records) + " |",
        "| retrain peak RSS (MB) | " + " | ".join(_cell(r["table"]["retrain"]["peak_rss_mb"], ".0f") for r in records)
        + " |",
    ]
    for name in methods:
        cells = []
        for r in records:
            m = r["table"]["methods"].get(name)
            if m is None or m["avg_gap"]["mean"] is None:
                cells.append("–")
            else:
                cells.append(f"{m['avg_gap']['mean']:.2f} ± {m['avg_gap']['std']:.2f} / {_cell(m['time_ratio'], '.2f')}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    failed = [(r["n_train"], f) for r in records for f in r["table"]["failed"]]
    for n, f in failed:
        lines.append(f"\nFailed at n = {n}: {f['method']} seed {f['seed']}: {f['error']}")
    lines.append("\n![Time as a share of retraining against the training-set size](time_ratio.png)\n")
    lines.append("_Each method's wall time divided by retraining's, against the number of training images "
                 "(log-log); below 1 the method is cheaper than retraining. Error bars: std over seeds._")
    return "\n".join(lines) + "\n"


def _cell(cell: dict, fmt: str) -> str:
    return "–" if cell["mean"] is None else format(cell["mean"], fmt)


def plot(records: list[dict], path: Path) -> None:
    """Time ratio against training-set size, one line per method (log-log), saved as a PNG."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9.5, 5), dpi=120)
    methods = list(dict.fromkeys(m for r in records for m in r["table"]["methods"]))
    for name in methods:
        points = [(r["n_train"], r["table"]["methods"][name]["time_ratio"]) for r in records
                  if name in r["table"]["methods"] and r["table"]["methods"][name]["time_ratio"]["mean"] is not None]
        if points:
            xs = [n for n, _ in points]
            ax.errorbar(xs, [c["mean"] for _, c in points], yerr=[c["std"] for _, c in points], marker="o",
                        capsize=3, label=name, linestyle="--" if name in BASELINES else "-")
    ax.axhline(1.0, color="black", linewidth=1)
    ax.text(records[0]["n_train"], 1.05, "retraining", fontsize=9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([r["n_train"] for r in records], [str(r["n_train"]) for r in records])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    low, high = ax.get_ylim()
    ax.set_yticks([v for v in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 20) if low <= v <= high])
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("training images (concept shapes, 32x32)")
    ax.set_ylabel("method time / retraining time")
    device = records[0]["machine"].rsplit("device ", 1)[-1]
    ax.set_title(f"ResNet-18 (width {records[0]['width']}, {device}): unlearning cost against retraining's")
    ax.legend(fontsize=8, title="dashed: baselines", title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render(out: Path) -> None:
    records = load_records(out)
    if not records:
        raise SystemExit(f"no shapes_n*.json in {out}")
    (out / "results.md").write_text(to_markdown(records))
    plot(records, out / "time_ratio.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1500,3000,6000", help="training-set sizes, comma-separated")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", default=",".join(SEED_METHODS + BASELINES))
    parser.add_argument("--forget", default="class:3")
    parser.add_argument("--width", type=int, default=16, help="ResNet-18 width (64 = the standard one)")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--lr", type=float, help="override the recipe's learning rate")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="ray runs tasks in parallel: faster, but each time is then taken under contention")
    parser.add_argument("--address")
    parser.add_argument("--ray-cpus", type=int)
    parser.add_argument("--task-cpus", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch threads here (default: torch's)")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--render-only", action="store_true", help="rewrite results.md and the plot from the JSON")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.render_only:
        if args.threads:
            torch.set_num_threads(args.threads)
        device = pick_device(args.device)
        for n in (int(s) for s in args.sizes.split(",")):
            start = time.perf_counter()
            record = run_size(n, args, device)
            record["wall_s"] = time.perf_counter() - start
            (out / f"shapes_n{n}.json").write_text(json.dumps(record, indent=1))
            print(f"n={n}: done in {record['wall_s']:.0f} s", file=sys.stderr, flush=True)
    render(out)


if __name__ == "__main__":
    main()
