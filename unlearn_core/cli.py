"""Command line: datasets, methods, train, eval, unlearn, bench, make-assets.

Every command accepts ``--json`` for scripts (one JSON object on stdout). Bad arguments and
bad input exit non-zero with a one-line message on stderr, never a traceback. The argument
names and JSON fields documented in the README are a contract: extend them, never rename.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .data import list_datasets, load_dataset
from .device import pick_device
from .models import load_checkpoint, save_checkpoint
from .progress import Cancelled, ProgressEvent
from .train import TrainingDiverged, accuracy, per_class_accuracy, predict_logits


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _dataset_options(pairs: list[str] | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise CliError(f"--data-option expects key=value; got {pair!r}")
        try:
            options[key] = json.loads(raw)
        except json.JSONDecodeError:
            options[key] = raw
    return options


def _load_data(args: argparse.Namespace):
    options = _dataset_options(getattr(args, "data_option", None))
    if getattr(args, "data_root", None):
        options["root"] = args.data_root
    return load_dataset(args.dataset, **options)


def _stderr_progress(enabled: bool):
    last = [0.0]

    def report(event: ProgressEvent) -> None:
        now = time.monotonic()
        if enabled and (now - last[0] > 0.5 or event.step >= event.total):
            last[0] = now
            print(f"[{event.fraction:5.0%}] {event.message}", file=sys.stderr, flush=True)

    return report


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    from .serialize import to_jsonable

    if getattr(args, "json", False):
        print(json.dumps(to_jsonable(payload)))
    else:
        print(text)


# -- commands ------------------------------------------------------------------------------
def cmd_datasets(args: argparse.Namespace) -> int:
    rows = [
        {"name": d.name, "description": d.description, "needs_root": d.needs_root, "options": d.options()}
        for d in list_datasets()
    ]
    text = "\n".join(f"{r['name']:<14} {r['description']}" for r in rows)
    _emit(args, {"datasets": rows}, text)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from .methods import config_schema, list_methods

    rows = [
        {
            "name": m.name, "title": m.title, "paper": m.paper, "forget_kinds": list(m.forget_categories),
            "touches": m.touches, "needs_forget_images": m.needs_forget_images, "localized": m.localized,
            "params": {p.name: p.default for p in config_schema(m.config_cls)},
            "schema": [p.to_dict() for p in config_schema(m.config_cls)],
        }
        for m in list_methods()
    ]
    text = "\n".join(f"{r['name']:<18} {r['title']}: {r['paper']}" for r in rows)
    _emit(args, {"methods": rows}, text)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .models.defaults import train_model
    from .recipes import recipe_for

    data = _load_data(args)
    given = (("epochs", args.epochs), ("lr", args.lr), ("batch_size", args.batch_size))
    overrides = {k: v for k, v in given if v is not None}  # 0 is refused by TrainConfig, not ignored
    config = recipe_for(data.name, args.model, args.seed, **overrides)
    device = pick_device(args.device)
    model, meta, log = train_model(
        data, args.model, config, device=device, arch_options=_dataset_options(args.model_option),
        progress=_stderr_progress(not args.quiet),
    )
    out = Path(args.out) if args.out else None
    if out is None and args.workspace:
        from .store import Workspace

        entry = Workspace(args.workspace).save_model(model, meta, f"{args.model} on {data.name} seed {args.seed}")
        out = entry.file("model.safetensors")
    elif out is not None:
        save_checkpoint(model, out, meta)
    payload = {
        "dataset": data.name, "model": args.model, "seed": args.seed, "device": str(device),
        "test_acc": meta.metrics["test_acc"], "train_time_s": log.time_s, "epochs": config.epochs,
        "final_loss": log.epoch_losses[-1], "checkpoint": str(out) if out else None, "recipe": config.to_dict(),
    }
    _emit(args, payload, f"test accuracy {payload['test_acc']:.4f} in {log.time_s:.1f} s" + (f"; saved {out}" if out else ""))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .models.defaults import check_compatible, load_default

    data = _load_data(args)
    device = pick_device(args.device)
    if args.checkpoint:
        model, meta = load_checkpoint(args.checkpoint)
    else:
        model, meta = load_default(data.name, device=device)
    check_compatible(meta, data)
    logits = predict_logits(model, data.test.x, device=device)
    train_logits = predict_logits(model, data.train.x, device=device)
    payload = {
        "dataset": data.name, "model": meta.arch, "checkpoint": args.checkpoint,
        "test_acc": accuracy(logits, data.test.y), "train_acc": accuracy(train_logits, data.train.y),
        "per_class_test_acc": dict(zip(data.class_names, per_class_accuracy(logits, data.test.y, data.num_classes), strict=True)),
    }
    _emit(args, payload, f"test accuracy {payload['test_acc']:.4f}, train accuracy {payload['train_acc']:.4f}")
    return 0


def _config(method: str, sets: list[str] | None):
    from .methods import config_from_strings, get_method

    info = get_method(method)
    values = {}
    for item in sets or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise CliError(f"--set expects key=value; got {item!r}")
        values[key] = raw
    return config_from_strings(info.config_cls, values)


def cmd_unlearn(args: argparse.Namespace) -> int:
    from .models.defaults import obtain_model
    from .runs import unlearn_run
    from .store import Workspace

    data = _load_data(args)
    config = _config(args.method, args.set)
    device = pick_device(args.device)
    workspace = None if args.no_store else Workspace(args.workspace)
    model, meta = obtain_model(
        data, args.model, seed=0, device=device, checkpoint=args.checkpoint, workspace=workspace,
        progress=_stderr_progress(not args.quiet),
    )
    record = unlearn_run(
        data, model, meta, args.forget, args.method, config, seed=args.seed, device=device,
        workspace=workspace, progress=_stderr_progress(not args.quiet),
    )
    s = record.summary
    payload = {k: v for k, v in s.items() if k != "details"}
    payload["run_id"] = record.entry.id if record.entry else None
    text = (
        f"{s['method']} forgetting {s['forget']} on {s['dataset']}: "
        + ", ".join(f"{k} {s['unlearned'][k]:.3f} (retrain {s['retrain'][k]:.3f})"
                    for k in ("forget_acc", "retain_acc", "test_acc"))
        + f"; avg gap {s['avg_gap']:.2f} pts; {s['time_s']:.1f} s vs retrain {s['retrain_time_s']:.1f} s"
    )
    _emit(args, payload, text)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench, to_markdown

    data = _load_data(args)
    device = pick_device(args.device)
    methods = None if args.methods == "all" else [m.strip() for m in args.methods.split(",") if m.strip()]
    table = bench(
        data, args.forget, methods, seeds=args.seeds, device=device, model_arch=args.model,
        workspace_root=args.workspace, progress=_stderr_progress(not args.quiet),
    )
    if args.markdown:
        print(to_markdown(table))
    else:
        print(json.dumps(table))
    return 0


def cmd_make_assets(args: argparse.Namespace) -> int:
    from .models.defaults import DEFAULT_MODELS, make_default

    device = pick_device(args.device)
    names = [args.dataset] if args.dataset else list(DEFAULT_MODELS)
    out = {}
    for name in names:
        _, meta = make_default(name, device=device, progress=_stderr_progress(not args.quiet))
        out[name] = meta.metrics
    _emit(args, {"assets": out}, "\n".join(f"{k}: test accuracy {v['test_acc']:.4f}" for k, v in out.items()))
    return 0


# -- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m unlearn_core", description="Unlearning Studio, headless.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, dataset: bool = True) -> None:
        if dataset:
            p.add_argument("--dataset", required=True, help="dataset name (see `datasets`)")
            p.add_argument("--data-root", help="folder of a local dataset (mnist, cifar10, imagefolder, ...)")
            p.add_argument("--data-option", action="append", metavar="KEY=VALUE", help="dataset option, repeatable")
        p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cuda, mps or cpu")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    p = sub.add_parser("datasets", help="list datasets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_datasets)
    p = sub.add_parser("methods", help="list unlearning methods")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_methods)

    p = sub.add_parser("train", help="train a model with the dataset's recipe")
    common(p)
    p.add_argument("--model", default="small_cnn", help="architecture (small_cnn, resnet18, tv:<torchvision name>)")
    p.add_argument("--model-option", action="append", metavar="KEY=VALUE", help="architecture option, e.g. width=16")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--out", help="write the checkpoint (.safetensors) here")
    p.add_argument("--workspace", help="store the model in this workspace")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint (default: the shipped model)")
    common(p)
    p.add_argument("--checkpoint", help=".safetensors (or a weights-only .pt with metadata) file")
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("unlearn", help="run one method and compare with retraining")
    common(p)
    p.add_argument("--forget", required=True, help="class:3 | random:0.1 | random:0.1@2,5 | indices:PATH | concept:color=red | flag:backdoor")
    p.add_argument("--method", required=True, help="method name (see `methods`)")
    p.add_argument("--model", help="architecture (default: the dataset's shipped model)")
    p.add_argument("--checkpoint", help="unlearn this checkpoint instead of the default model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="method parameter, repeatable")
    p.add_argument("--workspace", default="workspace", help="workspace folder (runs, cached retrains)")
    p.add_argument("--no-store", action="store_true", help="do not write to the workspace")
    p.set_defaults(fn=cmd_unlearn)

    p = sub.add_parser("bench", help="every method against retrain, over seeds")
    common(p)
    p.add_argument("--forget", required=True)
    p.add_argument("--methods", default="all", help="all, or a comma-separated list")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--model", help="architecture (default: the dataset's shipped model)")
    p.add_argument("--workspace", default="workspace")
    p.add_argument("--markdown", action="store_true", help="print a markdown table instead of JSON")
    p.set_defaults(fn=cmd_bench)

    p = sub.add_parser("make-assets", help="train the shipped default models into assets/")
    common(p, dataset=False)
    p.add_argument("--dataset", help="only this built-in dataset")
    p.set_defaults(fn=cmd_make_assets)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (CliError, ValueError, Cancelled, TrainingDiverged, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except torch.cuda.OutOfMemoryError:
        print("error: the GPU ran out of memory; use a smaller batch size or --device cpu", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


__all__ = ["build_parser", "main"]
