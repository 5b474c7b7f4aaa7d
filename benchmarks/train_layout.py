"""Training and inference speed in the channels-last layout `fit` and `predict_logits` use on the CPU
against the default layout (`unlearn_core.train._fast_layout`), as ratios within one run.

    python benchmarks/train_layout.py [--reps 3] [--steps 40]

For each case (the small CNN on digits' and shapes' image sizes with their recipes' batch sizes, the
ResNet-18 on shapes) and thread count (1 and 2), `fit` trains a fresh model for `--steps` steps on
random images in each layout, and `predict_logits` labels 2,048 random images (also in batches of 512,
against the library's CPU batch of 64), alternating the layouts
`--reps` times; the median seconds per training step and per 1,000 predicted images of each layout and
their ratios are written to ``benchmarks/results/timing/train_layout.json`` with the
load average before and after. Judge the ratios only from a run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from unittest import mock

import torch

from unlearn_core import train
from unlearn_core.models import build_model
from unlearn_core.recipes import recipe_for

OUT = Path(__file__).resolve().parent / "results" / "timing" / "train_layout.json"
CASES = {  # name -> (dataset, architecture, channels, image size)
    "digits small_cnn": ("digits", "small_cnn", 1, 16),
    "shapes small_cnn": ("shapes", "small_cnn", 3, 32),
    "shapes resnet18": ("shapes", "resnet18", 3, 32),
}
LAYOUTS = {"default": torch.preserve_format, "channels_last": torch.channels_last}


def seconds_per_step(case: tuple[str, str, int, int], layout: torch.memory_format, steps: int) -> float:
    """Seconds per training step of `fit` on a fresh model of `case`, weights trained in `layout`."""
    dataset, arch, channels, size = case
    recipe = recipe_for(dataset, arch, epochs=1)
    x = torch.randn(steps * recipe.batch_size, channels, size, size, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (len(x),), generator=torch.Generator().manual_seed(1))
    model = build_model(arch, num_classes=10, in_channels=channels, image_size=size)
    with mock.patch.object(train, "_fast_layout", lambda _device: layout):
        log = train.train_classifier(model, x, y, recipe, device=torch.device("cpu"))
    return log.time_s / log.steps


def seconds_per_1000_predictions(case: tuple[str, str, int, int], layout: torch.memory_format,
                                 batch_size: int | None = None) -> float:
    """Seconds `predict_logits` takes per 1,000 images on a fresh model of `case` in `layout`, in
    batches of `batch_size` (default: the library's CPU batch, `train._inference_batch`)."""
    _, arch, channels, size = case
    x = torch.randn(2048, channels, size, size, generator=torch.Generator().manual_seed(0))
    model = build_model(arch, num_classes=10, in_channels=channels, image_size=size)
    with mock.patch.object(train, "_fast_layout", lambda _device: layout):
        start = time.perf_counter()
        train.predict_logits(model, x, device=torch.device("cpu"), batch_size=batch_size)
    return (time.perf_counter() - start) / len(x) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="alternations of the two layouts (median)")
    parser.add_argument("--steps", type=int, default=40, help="training steps per measurement")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, case in CASES.items():
            seconds_per_step(case, torch.channels_last, 3)  # warm-up: first-call allocations
            steps: dict[str, list[float]] = {layout: [] for layout in LAYOUTS}
            preds: dict[str, list[float]] = {layout: [] for layout in (*LAYOUTS, "channels_last_batch_512")}
            for _ in range(args.reps):
                for layout, fmt in LAYOUTS.items():
                    steps[layout].append(seconds_per_step(case, fmt, args.steps))
                    preds[layout].append(seconds_per_1000_predictions(case, fmt))
                preds["channels_last_batch_512"].append(seconds_per_1000_predictions(case, torch.channels_last, 512))
            step = {layout: statistics.median(t) for layout, t in steps.items()}
            pred = {layout: statistics.median(t) for layout, t in preds.items()}
            rows.append({"case": name, "threads": threads,
                         **{f"{layout}_ms_per_step": round(1000 * m, 1) for layout, m in step.items()},
                         "speedup": round(step["default"] / step["channels_last"], 2),
                         **{f"{layout}_s_per_1000_predictions": round(m, 3) for layout, m in pred.items()},
                         "prediction_speedup": round(pred["default"] / pred["channels_last"], 2),
                         "batch_64_vs_512_speedup": round(pred["channels_last_batch_512"] / pred["channels_last"], 2)})
            print(rows[-1], flush=True)
    record = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.machine(),
              "cpus": os.cpu_count(), "torch": torch.__version__, "steps": args.steps, "reps": args.reps,
              "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2), "rows": rows}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
