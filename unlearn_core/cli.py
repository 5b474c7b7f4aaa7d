"""Command line: datasets, methods, train, eval, unlearn, study, runs, cache, bench, inspect, make-assets (and worker).

Every command accepts ``--json`` for scripts (one JSON object on stdout). Bad arguments and
bad input exit non-zero with a one-line message on stderr, never a traceback. The argument
names and JSON fields documented in the README are a contract: extend them, never rename.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import sqlite3
import sys
import tempfile
import time
import typing
from pathlib import Path
from typing import Any

from unlearn_core.errors import one_line, write_trace
from unlearn_core.options import split_pairs
from unlearn_core.progress import Cancelled, ProgressEvent

# Each command imports what it needs (torch, the data, the models, the methods) in its own body, so
# that `--help`, `datasets` or `runs` do not pay seconds for torchvision's model zoo, scikit-learn
# and scipy (tests/unit/test_lazy_imports.py).


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``error: <what>; see <prog> --help`` (not the usage block)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(2, f"error: {' '.join(message.split())}; see {self.prog} --help\n")


def _seed(text: str) -> int:
    """argparse type of --seed: an integer from 0 to 2**32 - 1 (refused here, not after the training)."""
    from unlearn_core.options import parse_int
    from unlearn_core.runs.worker import check_seed

    try:
        return check_seed(parse_int(text), "the seed")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err) if "must be" in str(err) else f"invalid int value: {text!r}") from None


def _device_name(text: str) -> str:
    """argparse type of --device: refuses an empty name (it used to mean auto silently)."""
    if text.strip() == "":
        raise argparse.ArgumentTypeError("empty device name; use auto, cuda, mps or cpu")
    return text


def _device(args: argparse.Namespace):
    """The torch device named by ``--device`` (auto: cuda > mps > cpu)."""
    from unlearn_core.device import pick_device

    return pick_device(args.device)


def _model_bytes(data, arch: str, arch_options: dict[str, Any]) -> int:
    """The size of the model about to be trained, from a shapes-only build (no memory), which also
    refuses, before any training, an option the architecture cannot take."""
    import torch

    from unlearn_core.models import build_model

    c, h, _ = data.input_shape
    with torch.device("meta"):
        model = build_model(arch, num_classes=data.num_classes, in_channels=c, image_size=h, **arch_options)
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def _model_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--model-option`` pairs typed by the architecture's builder (torchvision ones: JSON values)."""
    from unlearn_core.models import model_options

    options: dict[str, Any] = dict(split_pairs(getattr(args, "model_option", None), "--model-option"))
    if args.model.startswith("tv:"):  # torchvision declares no types to convert by
        for key, raw in options.items():
            try:
                options[key] = json.loads(raw)
            except json.JSONDecodeError:
                pass
    return model_options(args.model, options)


def _load_data(args: argparse.Namespace):
    from unlearn_core.data import load_dataset

    options: dict[str, Any] = dict(split_pairs(getattr(args, "data_option", None), "--data-option"))
    if getattr(args, "data_root", None):
        options["root"] = args.data_root
    return load_dataset(args.dataset, **options)  # converts and checks each option by its declared type


def _workspace(root: str | None):
    """The workspace at `root`, checked writable now (before the expensive step that will store in it)."""
    from unlearn_core.workspace.store import Workspace

    workspace = Workspace(root)
    workspace.check_writable()
    return workspace


def _check_out(path: Path) -> None:
    """CliError unless a checkpoint can be written at `path` (run before training, not after)."""
    if path.is_dir():
        raise CliError(f"--out {path} is a folder; name a file in it, e.g. {path / 'model.safetensors'}")
    if path.suffix != ".safetensors":
        raise CliError(f"--out {path}: checkpoints are written as safetensors; name the file "
                       f"{path.with_suffix('.safetensors').name}")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise CliError(f"--out {path}: {folder} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise CliError(f"--out {path}: cannot write in {folder} ({err.strerror}); choose another place") from None


def _stderr_progress(enabled: bool):
    last = [0.0]

    def report(event: ProgressEvent) -> None:
        now = time.monotonic()
        if enabled and (now - last[0] > 0.5 or event.step >= event.total):
            last[0] = now
            print(f"[{event.fraction:5.0%}] {event.message}", file=sys.stderr, flush=True)

    return report


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    from unlearn_core.serialize import to_jsonable

    if getattr(args, "json", False):
        print(json.dumps(to_jsonable(payload)))
    else:
        print(text)


# -- commands ------------------------------------------------------------------------------
def cmd_datasets(args: argparse.Namespace) -> int:
    from unlearn_core.data import list_datasets

    rows = [
        {"name": d.name, "description": d.description, "needs_root": d.needs_root, "options": d.options()}
        for d in list_datasets()
    ]
    text = "\n".join(f"{r['name']:<14} {r['description']}" for r in rows)
    _emit(args, {"datasets": rows}, text)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from unlearn_core.methods import config_schema, list_methods

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
    from unlearn_core.models import save_checkpoint
    from unlearn_core.models.defaults import train_model
    from unlearn_core.recipes import recipe_for

    out = Path(args.out) if args.out is not None else None
    if out is not None:
        _check_out(out)
    workspace = _workspace(args.workspace) if out is None and args.workspace is not None else None
    arch_options = _model_options(args)
    data = _load_data(args)
    given = (("epochs", args.epochs), ("lr", args.lr), ("batch_size", args.batch_size))
    overrides = {k: v for k, v in given if v is not None}  # 0 is refused by TrainConfig, not ignored
    config = recipe_for(data.name, args.model, args.seed, **overrides)
    device = _device(args)
    size = _model_bytes(data, args.model, arch_options)
    if out is not None or workspace is not None:
        from unlearn_core.fs_policy import check_free_space

        check_free_space(workspace.root if workspace is not None else out.parent, 2 * size,
                         f"storing the {args.model} model")
    model, meta, log = train_model(
        data, args.model, config, device=device, arch_options=arch_options,
        progress=_stderr_progress(not args.quiet),
    )
    if workspace is not None:
        entry = workspace.save_model(model, meta, f"{args.model} on {data.name} seed {args.seed}")
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
    from unlearn_core.models import load_checkpoint
    from unlearn_core.models.defaults import check_compatible, load_default
    from unlearn_core.train import accuracy, per_class_accuracy, predict_logits

    data = _load_data(args)
    device = _device(args)
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
    from unlearn_core.methods import config_from_strings, get_method

    info = get_method(method)
    return config_from_strings(info.config_cls, split_pairs(sets, "--set"))


def cmd_unlearn(args: argparse.Namespace) -> int:
    from unlearn_core.forget import resolve
    from unlearn_core.methods import get_method
    from unlearn_core.runs.one_run import check_supported, unlearn_run
    from unlearn_core.runs.start_model import obtain_model
    from unlearn_core.runs.worker import RunRequest, run_tracked, title_for

    data = _load_data(args)
    config = _config(args.method, args.set)
    device = _device(args)
    try:  # checked here too, before the original model is obtained (maybe trained)
        check_supported(get_method(args.method), resolve(args.forget, data, args.seed))
    except ValueError as err:
        raise CliError(f"{err}; see `methods`") from None
    if args.no_store:
        model, meta = obtain_model(
            data, args.model, seed=0, device=device, checkpoint=args.checkpoint, workspace=None,
            progress=_stderr_progress(not args.quiet),
        )
        record = unlearn_run(
            data, model, meta, args.forget, args.method, config, seed=args.seed, device=device,
            workspace=None, progress=_stderr_progress(not args.quiet),
        )
    else:  # a recorded run: listed by `runs`, cancellable with `runs --cancel ID`
        request = RunRequest(
            data.name, args.forget, args.method, dict(data.options), model=args.model, checkpoint=args.checkpoint,
            config=config.to_dict(), seed=args.seed, device=args.device,
        )
        record = run_tracked(_workspace(args.workspace), request, title_for(request),
                             _stderr_progress(not args.quiet), data)
    s = record.summary
    payload = {k: v for k, v in s.items() if k != "details"}
    payload["run_id"] = record.entry.id if record.entry else None
    payload["status"] = "done"
    text = (
        f"{s['method']} forgetting {s['forget']} on {s['dataset']}: "
        + ", ".join(f"{k} {s['unlearned'][k]:.3f} (retrain {s['retrain'][k]:.3f})"
                    for k in ("forget_acc", "retain_acc", "test_acc"))
        + f"; avg gap {s['avg_gap']:.2f} pts; {s['time_s']:.1f} s vs retrain {s['retrain_time_s']:.1f} s"
        + f" ({s['retrain_reason']})"
    )
    _emit(args, payload, text)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    import unlearn_core.runs.records as run_records
    from unlearn_core.workspace.store import Workspace

    workspace = Workspace(args.workspace)
    if args.clean or args.dry_run:  # housekeeping only when asked: listing never deletes
        report = workspace.clean(dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        lines = [f"{verb} pending registry row {r}" for r in report.pending_rows]
        lines += [f"{verb} {p}" for p in report.tmp_folders] + [f"skipped {p}" for p in report.skipped]
        _emit(args, {"cleaned": report.counts(), "dry_run": args.dry_run, "removed": report.tmp_folders,
                     "pending_rows": report.pending_rows, "skipped": report.skipped},
              "\n".join(lines) or f"nothing to clean in {workspace.root}")
        return 0
    cleaned = {"pending_rows": 0, "tmp_folders": 0}
    if args.cancel:
        row = run_records.request_cancel(workspace, args.cancel)
        _emit(args, {"run": row.to_dict()}, f"cancel requested for run {row.id} ({row.title})")
        return 0
    rows = run_records.list_runs(workspace, limit=args.limit)
    text = "\n".join(
        f"{r.id}  {r.label:<20} {r.progress:5.0%}  {r.title}" + (f"  ({r.error})" if r.error else "") for r in rows
    ) or "no runs"
    _emit(args, {"runs": [r.to_dict() for r in rows], "cleaned": cleaned}, text)
    return 0


def _files_text(files: int, size: int) -> str:
    """``3 files, 2.4 MB``: a count of files and their size, for the text output."""
    return f"{files} file{'' if files == 1 else 's'}, " + (f"{size / 2**20:.1f} MB" if size >= 2**20 else
                                                          f"{size / 2**10:.1f} kB")


def cmd_cache(args: argparse.Namespace) -> int:
    """Report the size of the workspace's feature cache, or clear it (`workspace.cache_folder`)."""
    from unlearn_core.workspace.cache_folder import cache_usage, clear_cache  # no torch: a light command

    root = Path(args.workspace).expanduser()
    if not args.workspace.strip() or not root.is_dir():
        raise CliError(f"workspace {args.workspace!r} is not a folder: name an existing workspace")
    clear = args.clear or args.dry_run
    cleared = clear_cache(root, dry_run=args.dry_run) if clear else None
    usage = cache_usage(root)
    lines = [f"{usage.path}: {_files_text(usage.files, usage.bytes)}"]
    lines += [f"  {name}: {_files_text(e['files'], e['bytes'])}" for name, e in usage.entries.items()]
    payload = {"cache": usage.path, "files": usage.files, "bytes": usage.bytes, "entries": usage.entries,
               "skipped": usage.skipped, "dry_run": args.dry_run, "removed": [], "freed_bytes": 0}
    if cleared is not None:
        verb = "would remove" if args.dry_run else "removed"
        lines = [f"{verb} {path}" for path in cleared.removed] + [f"skipped {why}" for why in cleared.skipped] + [
            f"{verb} {cleared.freed_bytes / 2**20:.1f} MB; now {lines[0]}"]
        payload |= {"removed": cleared.removed, "freed_bytes": cleared.freed_bytes,
                    "skipped": sorted(set(usage.skipped) | set(cleared.skipped))}
    else:
        lines += [f"skipped {why}" for why in usage.skipped]
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Execute a queued run (RUN_ID --workspace W), or wait as a standby for one handed over on stdin."""
    from unlearn_core.runs.worker import execute, serve_standby
    from unlearn_core.workspace.store import Workspace

    if args.standby:
        if args.run_id is not None or args.workspace is not None:
            raise CliError("worker --standby is handed its run on stdin; give no RUN_ID or --workspace")
        return serve_standby(sys.stdin.buffer, sys.stdout.buffer, args.after or ())
    if args.after:
        raise CliError("worker --after is for a standby (--standby)")
    if args.run_id is None or args.workspace is None:
        raise CliError("worker needs RUN_ID and --workspace (or --standby)")
    return execute(Workspace(args.workspace), args.run_id)


def cmd_bench(args: argparse.Namespace) -> int:
    from unlearn_core.bench.executors import make_executor
    from unlearn_core.bench.sweep import bench, report_task, split_methods, to_markdown

    executor = make_executor(  # first, so a missing Ray is said before any data is loaded
        args.executor, address=args.address, ray_cpus=args.ray_cpus, task_cpus=args.task_cpus,
        progress=_stderr_progress(not args.quiet),
    )
    if args.methods != "all" and not any(m.strip() for m in args.methods.split(",")):
        raise CliError(f"--methods {args.methods!r} names no method; give all, or method names separated by commas")
    data = _load_data(args)
    device = _device(args)
    _workspace(args.workspace)
    methods = None if args.methods == "all" else split_methods(args.methods)
    table = bench(
        data, args.forget, methods, seeds=args.seeds, device=device, model_arch=args.model,
        workspace_root=args.workspace, executor=executor, on_task=None if args.quiet else report_task,
    )
    if args.markdown:
        print(to_markdown(table))
    else:
        print(json.dumps(table))
    return 1 if table["failed"] else 0


def cmd_study(args: argparse.Namespace) -> int:
    """A seed study: K unlearned runs against K retrained models, judged against retraining's spread."""
    from unlearn_core.bench.executors import make_executor
    from unlearn_core.bench.sweep import report_task
    from unlearn_core.runs.start_model import obtain_model
    from unlearn_core.study.seed_study import check_k, run_study
    from unlearn_core.study.text import study_text

    check_k(args.seeds)
    executor = make_executor(  # first, so a missing Ray is said before any data is loaded
        args.executor, address=args.address, ray_cpus=args.ray_cpus, task_cpus=args.task_cpus,
        progress=_stderr_progress(not args.quiet),
    )
    data = _load_data(args)
    config = _config(args.method, args.set)
    device = _device(args)
    workspace = _workspace(args.workspace)
    original = obtain_model(data, args.model, seed=0, device=device, checkpoint=args.checkpoint, workspace=workspace,
                            progress=_stderr_progress(not args.quiet))
    result, _ = run_study(
        data, args.forget, args.method, config, k=args.seeds, seed=args.seed, device=device,
        workspace_root=args.workspace, executor=executor, original=original, reuse=not args.recompute,
        on_task=None if args.quiet else report_task,
    )
    _emit(args, result, study_text(result))
    return 0


def cmd_make_assets(args: argparse.Namespace) -> int:
    from unlearn_core.models.defaults import DEFAULT_MODELS, make_default

    device = _device(args)
    names = [args.dataset] if args.dataset else list(DEFAULT_MODELS)
    out = {}
    for name in names:
        _, meta = make_default(name, device=device, progress=_stderr_progress(not args.quiet))
        out[name] = meta.metrics
    _emit(args, {"assets": out}, "\n".join(f"{k}: test accuracy {v['test_acc']:.4f}" for k, v in out.items()))
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Layer CKA, prediction matrices, linear probe and relearn test of a stored run."""
    from unlearn_core.inspect import inspect_run, load_run, run_dataset, run_original, summary_text
    from unlearn_core.workspace.store import Workspace

    if not Path(args.workspace).is_dir():
        raise CliError(f"workspace {args.workspace} does not exist")
    workspace = Workspace(args.workspace)
    entry = workspace.get(args.run)
    device = _device(args)
    data = run_dataset(entry)
    original = run_original(entry, data, device=device, workspace=workspace, checkpoint=args.checkpoint)
    run = load_run(workspace, args.run, original, data)
    text = ""
    if args.versus:  # checked before the long inspection: a wrong B fails at once
        from unlearn_core.inspect.versus import comparable, study_of, study_versus, versus_inspection, versus_text

        other = workspace.get(args.versus)
        if other.kind != "run" or other.id == run.entry.id:
            raise CliError(f"--versus {args.versus}: give another stored run than --run")
        if (why := comparable(run.entry.info, other.info)) is not None:
            raise CliError(f"--versus {args.versus}: not the same forget set as run {args.run}: {why}")
    report = inspect_run(run, device=device, per_side=args.sample,
                         relearn_steps=args.relearn_steps, shots=args.shots, lr=args.relearn_lr)
    if args.versus:
        versus = versus_inspection(run, load_run(workspace, args.versus, original, data), device=device,
                                   per_side=args.sample)
        studies = [study_of(workspace, e.info) for e in (run.entry, other)]
        versus["study"] = study_versus(*[None if s is None else s.info for s in studies])
        report["versus"] = versus
        text = "\n" + versus_text(versus)
    _emit(args, report, summary_text(report) + text)
    return 0


def cmd_evaluate_external(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint unlearned elsewhere like a studio run; stored with method "external"."""
    from unlearn_core.runs.external import evaluate_external, load_external
    from unlearn_core.runs.start_model import obtain_model
    from unlearn_core.workspace.store import Workspace

    data = _load_data(args)
    device = _device(args)
    workspace = None if args.no_store else Workspace(args.workspace)
    original, meta = obtain_model(data, args.model, seed=0, device=device, checkpoint=args.checkpoint,
                                  workspace=workspace, progress=_stderr_progress(not args.quiet))
    record = evaluate_external(data, original, meta, load_external(args.unlearned, meta), args.forget, seed=args.seed,
                               device=device, workspace=workspace, checkpoint=args.unlearned,
                               progress=_stderr_progress(not args.quiet))
    s = record.summary
    payload = {k: v for k, v in s.items() if k != "details"}
    payload["run_id"] = record.entry.id if record.entry else None
    text = (f"external model {s['model_name']} forgetting {s['forget']} on {s['dataset']}: "
            + ", ".join(f"{k} {s['unlearned'][k]:.3f} (retrain {s['retrain'][k]:.3f})"
                        for k in ("forget_acc", "retain_acc", "test_acc")) + f"; avg gap {s['avg_gap']:.2f} pts")
    _emit(args, payload, text)
    return 0


# -- parser ----------------------------------------------------------------------------------
def executor_args(p: argparse.ArgumentParser, what: str) -> None:
    """--executor, --address, --ray-cpus, --task-cpus: where a sweep's tasks run (bench, study)."""
    p.add_argument("--executor", choices=("local", "ray"), default="local", help=f"local: {what}")
    p.add_argument("--address", help="with --executor ray: an existing Ray cluster (default: start a local instance)")
    p.add_argument("--ray-cpus", type=int, help="CPUs of the local Ray instance (default: this machine's)")
    p.add_argument("--task-cpus", type=int, default=1, help="CPUs (torch threads) each Ray task asks for")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m unlearn_core", description="Unlearning Studio, headless.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, dataset: bool = True) -> None:
        if dataset:
            p.add_argument("--dataset", required=True, help="dataset name (see `datasets`)")
            p.add_argument("--data-root", help="folder of a local dataset (mnist, cifar10, imagefolder, ...)")
            p.add_argument("--data-option", action="append", metavar="KEY=VALUE", help="dataset option, repeatable")
        p.add_argument("--device", default="auto", type=_device_name, help="auto (cuda > mps > cpu), cuda, mps or cpu")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--quiet", action="store_true", help="no progress on stderr")

    def compared_run(p: argparse.ArgumentParser, checkpoint_help: str) -> None:
        """The original model, seed and workspace of a run compared with retraining (unlearn, evaluate-external)."""
        p.add_argument("--model", help="architecture of the original (default: the dataset's shipped model)")
        p.add_argument("--checkpoint", help=checkpoint_help)
        p.add_argument("--seed", type=_seed, default=0, help="0 to 2**32 - 1")
        p.add_argument("--workspace", default="workspace", help="workspace folder (runs, cached retrains)")
        p.add_argument("--no-store", action="store_true", help="do not write to the workspace")

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
    p.add_argument("--seed", type=_seed, default=0, help="0 to 2**32 - 1")
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
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="method parameter, repeatable")
    compared_run(p, checkpoint_help="unlearn this checkpoint instead of the default model")
    p.set_defaults(fn=cmd_unlearn)

    p = sub.add_parser("runs", help="list the workspace's runs (live progress, status, errors) or cancel one")
    p.add_argument("--workspace", default="workspace", help="workspace folder")
    p.add_argument("--cancel", metavar="ID", help="ask run ID to stop")
    p.add_argument("--limit", type=int, default=50, help="newest runs listed")
    p.add_argument("--clean", action="store_true",
                   help="remove what crashed writers left in the workspace (listing never does); says what it removes")
    p.add_argument("--dry-run", action="store_true", help="with --clean: only say what would be removed")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(fn=cmd_runs)

    p = sub.add_parser("cache", help="size of the workspace's feature cache (model outputs, projections, concepts, "
                                     "inspections computed once), or clear it")
    p.add_argument("--workspace", default="workspace", help="workspace folder")
    p.add_argument("--clear", action="store_true",
                   help="remove everything in <workspace>/cache (recomputed when next needed); says what it removes")
    p.add_argument("--dry-run", action="store_true", help="with --clear: only say what would be removed")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(fn=cmd_cache)

    p = sub.add_parser("worker", help="execute a queued run (started by the app; not for direct use)")
    p.add_argument("run_id", nargs="?")
    p.add_argument("--workspace")
    p.add_argument("--standby", action="store_true",
                   help="import everything, then wait for the run handed over on stdin (the app's standby workers)")
    p.add_argument("--after", type=int, action="append", metavar="PID",
                   help="with --standby: import only once process PID has ended (repeatable), or a run is handed over")
    p.set_defaults(fn=cmd_worker)

    p = sub.add_parser("bench", help="every method against retrain, over seeds")
    common(p)
    p.add_argument("--forget", required=True)
    p.add_argument("--methods", default="all", help="all, or a comma-separated list")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--model", help="architecture (default: the dataset's shipped model)")
    p.add_argument("--workspace", default="workspace")
    p.add_argument("--markdown", action="store_true", help="print a markdown table instead of JSON")
    executor_args(p, "one task after the other here; ray: each oracle and (method, seed) a Ray task")
    p.set_defaults(fn=cmd_bench)

    p = sub.add_parser("study", help="seed study: K unlearned runs vs K retrained models, verdict per metric")
    common(p)
    p.add_argument("--forget", required=True, help="the forget set (as for unlearn); drawn once, with --seed")
    p.add_argument("--method", required=True, help="method name (see `methods`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="method parameter, repeatable")
    p.add_argument("--seeds", type=int, default=8, help="K: training seeds per side (4-64; 8 is usual)")
    p.add_argument("--recompute", action="store_true",
                   help="recompute the study's figures even if it is stored (stored members are still reused)")
    p.add_argument("--model", help="architecture of the original (default: the dataset's shipped model)")
    p.add_argument("--checkpoint", help="unlearn this checkpoint instead of the default model")
    p.add_argument("--seed", type=_seed, default=0, help="draws the forget set (random kinds) and evaluation samples")
    p.add_argument("--workspace", default="workspace", help="workspace folder (members and the study are stored)")
    executor_args(p, "one member after the other here; ray: each member a Ray task")
    p.set_defaults(fn=cmd_study)

    p = sub.add_parser("inspect", help="layer CKA, prediction matrices, probe and relearn test of a stored run")
    common(p, dataset=False)
    p.add_argument("--run", required=True, help="run id (printed by `unlearn --json` as run_id)")
    p.add_argument("--workspace", default="workspace", help="workspace folder holding the run")
    p.add_argument("--checkpoint", help="the model the run started from (default: the dataset's shipped model)")
    p.add_argument("--sample", type=int, default=300, help="forget and test images per side of the sample")
    p.add_argument("--relearn-steps", type=int, default=10, help="finetuning steps of the relearn test")
    p.add_argument("--shots", type=int, default=16, help="forget samples the relearn test finetunes on")
    p.add_argument("--relearn-lr", type=float, default=0.01, help="learning rate of the relearn test")
    p.add_argument("--versus", metavar="RUN_B", help="another run on the same forget set: adds the A vs B comparison "
                                                     "(the JSON's \"versus\" object)")
    p.set_defaults(fn=cmd_inspect)

    p = sub.add_parser("evaluate-external", help="evaluate a checkpoint unlearned elsewhere against retraining")
    common(p)
    p.add_argument("--forget", required=True, help="the forget set the checkpoint was unlearned on (as for unlearn)")
    p.add_argument("--unlearned", required=True, help="the unlearned checkpoint (.safetensors or weights-only .pt)")
    compared_run(p, checkpoint_help="the original model the checkpoint was unlearned from")
    p.set_defaults(fn=cmd_evaluate_external)

    p = sub.add_parser("make-assets", help="train the shipped default models into unlearn_core/assets/")
    common(p, dataset=False)
    p.add_argument("--dataset", help="only this built-in dataset")
    p.set_defaults(fn=cmd_make_assets)
    return parser


def _os_error(err: OSError) -> str:
    """One line for a failed file operation: which file, why, and what to do."""
    where = err.filename or "a file"
    reasons = {
        errno.ENOSPC: "the disk is full; free some space", errno.EDQUOT: "the disk quota is used up; free some space",
        errno.EROFS: "the file system is read-only; choose a writable --workspace / --out",
        errno.EACCES: "permission denied; choose a writable --workspace / --out",
        errno.EPERM: "the operation is not permitted (an immutable or protected file?); choose another place",
        errno.EISDIR: "it is a folder, not a file", errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.ENOENT: "it does not exist", errno.EEXIST: "it already exists",
    }
    return f"cannot use {where}: {reasons.get(err.errno, err.strerror or one_line(err))}"


def _out_of_gpu_memory(err: Exception) -> bool:
    """Whether `err` is torch's CUDA out-of-memory error, asked without importing torch: a command
    that never imported it cannot have raised it."""
    cuda = sys.modules.get("torch.cuda")
    return cuda is not None and isinstance(err, cuda.OutOfMemoryError)


def _fail(message: object, status: int = 2) -> int:
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    return status


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status. Every error is one line on stderr, never a traceback.

    Status 2: bad arguments or input (the line says which and what to do); 3: out of GPU memory;
    1: an internal error (its trace goes to ``<workspace>/logs/``); 130: interrupted.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, or a usage error already printed on one line
        return stop.code if isinstance(stop.code, int) else 2
    try:
        return args.fn(args)
    except (CliError, ValueError, Cancelled) as err:  # WorkspaceError and TrainingDiverged are ValueErrors
        return _fail(err)
    except sqlite3.Error as err:
        from unlearn_core.workspace.store import registry_error

        return _fail(registry_error(Path(getattr(args, "workspace", None) or "workspace"), err))
    except OSError as err:
        return _fail(_os_error(err))
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as err:
        if _out_of_gpu_memory(err):
            return _fail("the GPU ran out of memory; use a smaller batch size or --device cpu", 3)
        # a bug: one line here, the trace in the log
        log = write_trace(err, getattr(args, "workspace", None), "cli")
        where = f"trace written to {log}" if log else "no trace could be written"
        return _fail(f"internal error: {type(err).__name__}: {one_line(err)}; {where}", 1)


__all__ = ["build_parser", "main"]
