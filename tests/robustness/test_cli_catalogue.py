"""The CLI under bad input and faults, in-process (`main([...])`): the catalogue of issue #10.

Each case asserts: a non-zero exit status, nothing on stdout, exactly one line on stderr that
starts with ``error:``, names the problem (the expected text) and holds no traceback; no file
appeared outside the workspace; the workspace (one model, one forget set) still lists its
entries afterwards. Faults that cannot be made for real on a test machine (a read-only or full
disk) are injected where the operating system would raise them.
"""

from __future__ import annotations

import errno
import functools
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from bad_inputs import populated_workspace, truncated_registry
from PIL import Image

from unlearn_core.cli import main
from unlearn_core.workspace.store import Workspace

D = ["--dataset", "digits"]
Q = ["--quiet", "--device", "cpu"]


@dataclass(frozen=True)
class Ctx:
    """What a case's argv may refer to: the shared bad files, the workspace and a scratch folder."""

    bad: dict[str, Path]
    ws: Path
    tmp: Path


@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Ctx], list[str]]
    expect: str
    fault: Callable[[Ctx, pytest.MonkeyPatch], object] | None = None  # may return a lock to release
    status: int = 2


def _raise_oserror(code: int, *args, **kwargs):
    raise OSError(code, f"[simulated] {errno.errorcode[code]}", kwargs.get("dir") or (args[0] if args else None))


def read_only(ctx: Ctx, mp: pytest.MonkeyPatch) -> None:
    """Every new file fails as on a read-only mount (root ignores chmod, so the fault is injected)."""
    mp.setattr(tempfile, "mkstemp", functools.partial(_raise_oserror, errno.EROFS))


def disk_full_on_save(ctx: Ctx, mp: pytest.MonkeyPatch) -> None:
    def full(model, path, meta):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    mp.setattr("unlearn_core.workspace.store.save_checkpoint", full)


def lower_pixel_limit(ctx: Ctx, mp: pytest.MonkeyPatch) -> None:
    """An 8 x 8 image becomes a "decompression bomb" (no need for a real 200-megapixel file)."""
    mp.setattr(Image, "MAX_IMAGE_PIXELS", 10)


def locked_registry(ctx: Ctx, mp: pytest.MonkeyPatch) -> sqlite3.Connection:
    """Another process holds the registry's write lock; the wait is cut from 30 s to 0.2 s."""
    real = sqlite3.connect
    holder = real(ctx.ws / "registry.sqlite")
    holder.execute("BEGIN EXCLUSIVE")
    mp.setattr(sqlite3, "connect", lambda *a, **k: real(*a, **{**k, "timeout": 0.2}))
    return holder


def internal_bug(ctx: Ctx, mp: pytest.MonkeyPatch) -> None:
    def boom(args):
        raise RuntimeError("planted bug")

    mp.setattr("unlearn_core.cli.cmd_unlearn", boom)


def no_work(ctx: Ctx, mp: pytest.MonkeyPatch) -> None:
    """Training or a run starting is an internal error here: the refusal must come before the work."""
    def started(*args, **kwargs):
        raise RuntimeError("the work started before the refusal")

    mp.setattr("unlearn_core.models.defaults.train_model", started)
    mp.setattr("unlearn_core.runs.worker._execute_request", started)


def safetensors_disk_full(ctx: Ctx, mp: pytest.MonkeyPatch) -> None:
    """safetensors reports a full disk as its own error type, in words only (as it does for real)."""
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                              'message: "No space left on device" })')

    mp.setattr("unlearn_core.models.checkpoint.save_file", full)


def little_free_space(ctx: Ctx, mp: pytest.MonkeyPatch) -> None:
    """The disk has 1 MB free; training must not start."""
    import shutil

    mp.setattr("unlearn_core.fs_policy.shutil.disk_usage", lambda path: shutil._ntuple_diskusage(2**30, 2**30, 2**20))
    no_work(ctx, mp)


def broken_workspace(ctx: Ctx, folder: str, link_out: bool = False) -> Path:
    """A workspace in scratch whose `folder` is a file (or, with `link_out`, a link to scratch's outside)."""
    root = ctx.tmp / f"ws-{folder.strip('.')}{'-link' if link_out else ''}"
    Workspace(root)
    if link_out:
        (ctx.tmp / "elsewhere").mkdir(exist_ok=True)
        (root / folder).symlink_to(ctx.tmp / "elsewhere")
    else:
        (root / folder).write_text("not a folder")
    return root


def unlearn(ctx: Ctx, *extra: str, forget: str = "class:3", method: str = "finetune") -> list[str]:
    return ["unlearn", *D, "--forget", forget, "--method", method, "--workspace", str(ctx.ws), *Q, *extra]


def evaluate(ctx: Ctx, checkpoint: str) -> list[str]:
    return ["eval", *D, "--checkpoint", str(ctx.bad[checkpoint]), *Q]


def digits(command: str, *extra: str) -> Callable[[Ctx], list[str]]:
    return lambda c: [command, *D, *extra, *Q]


def data(name: str, root: str, *extra: str) -> Callable[[Ctx], list[str]]:
    return lambda c: ["eval", "--dataset", name, "--data-root", str(c.bad[root]), *extra, *Q]


CASES = [
    # -- arguments (argparse): one line plus "see --help" --------------------------------------
    Case("missing --forget", lambda c: ["unlearn", *D, "--method", "finetune"],
         "the following arguments are required: --forget; see python -m unlearn_core unlearn --help"),
    Case("missing --method", lambda c: ["unlearn", *D, "--forget", "class:3"], "required: --method"),
    Case("missing --dataset", lambda c: ["train"], "required: --dataset"),
    Case("--seed abc", lambda c: ["train", *D, "--seed", "abc"], "argument --seed: invalid int value: 'abc'"),
    Case("--epochs 1.5", lambda c: ["train", *D, "--epochs", "1.5"], "argument --epochs: invalid int value"),
    Case("unknown command", lambda c: ["nope"], "invalid choice: 'nope'"),
    Case("no command", lambda c: [], "required: command; see python -m unlearn_core --help"),
    Case("unknown flag", lambda c: ["eval", *D, "--bogus"], "unrecognized arguments: --bogus"),
    # -- option values: typed by what the dataset / model / method declares --------------------
    Case("--data-option size=abc", digits("eval", "--data-option", "size=abc"),
         "dataset 'digits': option size expects an integer; got 'abc'"),
    Case("--data-option test_fraction=abc", data("imagefolder", "images_ok", "--data-option", "test_fraction=abc"),
         "option test_fraction expects a number; got 'abc'"),
    Case("--data-option test_fraction=1.5", data("imagefolder", "images_ok", "--data-option", "test_fraction=1.5"),
         "test_fraction must be in (0, 1)"),
    Case("--data-option grayscale=maybe", data("imagefolder", "images_ok", "--data-option", "grayscale=maybe"),
         "option grayscale expects true/false; got 'maybe'"),
    Case("--data-option size=2", data("imagefolder", "images_ok", "--data-option", "size=2"),
         "size must be between 4 and 256"),
    Case("--data-option unknown", digits("eval", "--data-option", "colour=red"),
         "dataset 'digits' has no option(s) colour"),
    Case("--data-option without =", digits("eval", "--data-option", "size"),
         "--data-option expects key=value; got 'size'"),
    Case("--model-option width=abc", digits("train", "--model-option", "width=abc"),
         "model 'small_cnn': option width expects an integer; got 'abc'"),
    Case("--model-option width (no =)", digits("train", "--model-option", "width"),
         "--model-option expects key=value; got 'width'"),
    Case("--model-option width=100000", digits("train", "--model-option", "width=100000"),
         "width must be from 1 to 1024; got 100000"),
    Case("--model-option width=0", digits("train", "--model-option", "width=0"),
         "width must be from 1 to 1024; got 0"),
    Case("--model-option unknown", digits("train", "--model-option", "depth=3"),
         "model 'small_cnn' has no option(s) depth"),
    Case("--set lr=abc", lambda c: unlearn(c, "--set", "lr=abc"), "expects float; got 'abc'"),
    Case("--set without =", lambda c: unlearn(c, "--set", "lr"), "--set expects key=value; got 'lr'"),
    Case("--device tpu", lambda c: ["eval", *D, "--device", "tpu"], "unknown device 'tpu'"),
    Case("--epochs 0", digits("train", "--epochs", "0"), "epochs must be at least 1"),
    Case("--lr -1", digits("train", "--lr", "-1"), "lr must be a positive number"),
    Case("unknown model", digits("train", "--model", "resnet9000"), "unknown model 'resnet9000'"),
    # -- where results go: checked before anything is trained ---------------------------------
    Case("--out m.pt", lambda c: ["train", *D, "--out", str(c.tmp / "m.pt"), *Q],
         "checkpoints are written as safetensors; name the file m.safetensors"),
    Case("--out a folder", lambda c: ["train", *D, "--out", str(c.tmp), *Q], "is a folder; name a file in it"),
    Case("--out under a file", lambda c: ["train", *D, "--out", str(c.bad["a_file"] / "m.safetensors"), *Q],
         "a_file is a file, not a folder"),
    Case("--out read-only", lambda c: ["train", *D, "--out", str(c.tmp / "m.safetensors"), *Q],
         "cannot write in", read_only),
    Case("train --workspace ''", digits("train", "--workspace", ""), "workspace folder name is empty"),
    Case("train --workspace a file", lambda c: ["train", *D, "--workspace", str(c.bad["a_file"]), *Q],
         "a_file is a file, not a folder"),
    Case("train --workspace read-only", lambda c: ["train", *D, "--workspace", str(c.ws), *Q],
         "cannot be written", read_only),
    Case("train: disk full while storing", lambda c: ["train", *D, "--workspace", str(c.ws), "--epochs", "1",
                                                      "--model-option", "width=2", *Q],
         "the disk is full", disk_full_on_save),
    Case("unlearn --workspace ''", lambda c: [*unlearn(c)[:-5], "--workspace", "", *Q],
         "workspace folder name is empty"),
    Case("unlearn --workspace a file", lambda c: [*unlearn(c)[:-5], "--workspace", str(c.bad["a_file"]), *Q],
         "is a file, not a folder"),
    Case("unlearn --workspace under a file", lambda c: [*unlearn(c)[:-5], "--workspace",
                                                        str(c.bad["a_file"] / "ws"), *Q],
         "a part of this path is a file"),
    Case("unlearn --workspace read-only", lambda c: unlearn(c), "cannot be written", read_only),
    Case("bench --workspace a file", lambda c: ["bench", *D, "--forget", "class:3", "--workspace",
                                                str(c.bad["a_file"]), *Q], "is a file, not a folder"),
    Case("registry is garbage", lambda c: [*unlearn(c)[:-5], "--workspace", str(c.bad["registry_garbage"]), *Q],
         "registry.sqlite cannot be used (file is not a database)"),
    Case("registry is truncated", lambda c: [*unlearn(c)[:-5], "--workspace",
                                             str(truncated_registry(c.tmp / "cut")), *Q],
         "cannot be used (database disk image is malformed)"),
    Case("registry is locked", lambda c: unlearn(c), "another process is writing to it", locked_registry),
    # -- checkpoints ---------------------------------------------------------------------------
    Case("checkpoint missing", lambda c: ["eval", *D, "--checkpoint", str(c.tmp / "nope.safetensors"), *Q],
         "checkpoint not found"),
    Case("checkpoint is a folder", lambda c: evaluate(c, "folder.safetensors"), "checkpoint not found"),
    Case("checkpoint garbage", lambda c: evaluate(c, "garbage.safetensors"),
         "garbage.safetensors is not a readable safetensors checkpoint"),
    Case("metadata width=100000", lambda c: evaluate(c, "width100000"), "width must be from 1 to 1024"),
    Case("metadata width=512 vs weights", lambda c: evaluate(c, "width512"),
         "width512.safetensors: checkpoint does not fit the architecture; wrong shapes"),
    Case("metadata num_classes 'ten'", lambda c: evaluate(c, "classes_ten"),
         "metadata field num_classes must be an integer from 2 to 100000; got 'ten'"),
    Case("metadata num_classes 10^9", lambda c: evaluate(c, "classes_huge"), "num_classes must be an integer"),
    Case("metadata unknown recipe key", lambda c: evaluate(c, "recipe_key"), "recipe has no option(s) epochz"),
    Case("metadata input_shape text", lambda c: evaluate(c, "shape_text"), "metadata field input_shape must be"),
    Case("metadata not JSON", lambda c: evaluate(c, "meta_not_json"), "metadata is not valid JSON"),
    Case("metadata arch a number", lambda c: evaluate(c, "arch_number"), "metadata field arch must be"),
    Case("metadata width 'wide'", lambda c: evaluate(c, "width_text"), "option width expects an integer"),
    Case("NaN weights", lambda c: evaluate(c, "nan"), "tensor head.weight holds NaN or infinite values"),
    Case("Inf weights", lambda c: evaluate(c, "inf"), "tensor features.0.0.weight holds NaN or infinite"),
    Case("no metadata", lambda c: evaluate(c, "no_meta"), "no_meta.safetensors carries no architecture metadata"),
    Case(".pt without metadata", lambda c: evaluate(c, "plain.pt"), "plain.pt carries no architecture metadata"),
    Case("model of another dataset", lambda c: evaluate(c, "shapes_model"),
         "the model predicts 6 classes but digits has 10"),
    Case("malicious .pt", lambda c: evaluate(c, "evil.pt"), "evil.pt holds pickled Python objects"),
    Case("malicious bare pickle .pt", lambda c: evaluate(c, "evil_raw.pt"), "evil_raw.pt holds pickled Python objects"),
    Case("pickle renamed .safetensors", lambda c: evaluate(c, "evil_pickle.safetensors"),
         "evil_pickle.safetensors is not a readable safetensors checkpoint"),
    # -- data folders --------------------------------------------------------------------------
    Case("MNIST .gz not gzip", data("mnist", "mnist_bad_gz"), "train-images-idx3-ubyte.gz is not a readable gzip"),
    Case("MNIST .gz cut short", data("mnist", "mnist_cut_gz"), "train-images-idx3-ubyte.gz is not a readable gzip"),
    Case("MNIST folder missing", lambda c: ["eval", "--dataset", "mnist", "--data-root", str(c.tmp / "none"), *Q],
         "MNIST not found: folder"),
    Case("MNIST root is a file", data("mnist", "a_file"), "MNIST not found: folder"),
    Case("SVHN not a .mat file", data("svhn", "svhn_not_mat"), "train_32x32.mat is malformed"),
    Case("CIFAR meta with a payload", data("cifar10", "cifar_evil_meta"), "refusing to load io.open"),
    Case("CIFAR batch with a payload", data("cifar10", "cifar_evil_batch"), "refusing to load io.open"),
    Case("image not an image", data("imagefolder", "images_garbage"), "bad.png: cannot identify image file"),
    Case("decompression bomb", data("imagefolder", "images_bomb"), "refused as a possible decompression bomb",
         lower_pixel_limit),
    Case("image folder without images", data("imagefolder", "images_empty"), "no images"),
    # -- forget specs --------------------------------------------------------------------------
    Case("forget spec kind", lambda c: unlearn(c, forget="klass:3"), "bad forget spec 'klass:3'"),
    Case("forget class 99", lambda c: unlearn(c, forget="class:99"), "class 99 does not exist"),
    Case("forget class text", lambda c: unlearn(c, forget="class:three"), "must be comma-separated integers"),
    Case("forget random 2", lambda c: unlearn(c, forget="random:2"), "random fraction must be in (0, 1)"),
    Case("forget random text", lambda c: unlearn(c, forget="random:lots"), "random fraction must be a number"),
    Case("forget random@ empty", lambda c: unlearn(c, forget="random:0.1@"), "is empty"),
    Case("forget indices missing", lambda c: unlearn(c, forget=f"indices:{c.tmp / 'no.txt'}"), "index file not found"),
    Case("forget indices out of range", lambda c: unlearn(c, forget=f"indices:{c.bad['indices_out_of_range']}"),
         "index 999999"),
    Case("forget indices text", lambda c: unlearn(c, forget=f"indices:{c.bad['indices_text']}"),
         "must hold one integer train index per line"),
    Case("forget concept on digits", lambda c: unlearn(c, forget="concept:color=red"), "bad concept"),
    Case("forget flag on digits", lambda c: unlearn(c, forget="flag:backdoor"), "has no flag 'backdoor'"),
    Case("forget everything", lambda c: unlearn(c, forget="class:0,1,2,3,4,5,6,7,8,9"), "nothing would be left"),
    Case("method cannot do this kind", lambda c: unlearn(c, forget="random:0.1", method="unsir"),
         "supports class forgetting, not samples"),
    # -- issue 26: the file-system policy and late failures, refused before any work ------------
    Case("FIFO in an ImageFolder", data("imagefolder", "images_fifo"), "refused 1 FIFO ("),
    Case("class folder linking to its parent", data("imagefolder", "images_loop"),
         "link to a folder or file already read"),
    Case("class folder name not UTF-8", data("imagefolder", "images_non_utf8"), "b'caf\\xe9'"),
    Case("ImageFolder with an empty test split", data("imagefolder", "images_one_each"),
         "leave 2 to train and 0 to test"),
    Case("MNIST of 2x2 images", data("mnist", "mnist_2x2"), "holds 10 images of 2x2 pixels"),
    Case("MNIST of 0x0 images", data("mnist", "mnist_0x0"), "holds 10 images of 0x0 pixels"),
    Case("int64 head weight", lambda c: evaluate(c, "head_int64"),
         "wrong dtypes: head.weight: checkpoint int64 vs model float32"),
    Case("bool head weight", lambda c: evaluate(c, "head_bool"),
         "wrong dtypes: head.weight: checkpoint bool vs model float32"),
    Case("metadata class_names too short", lambda c: evaluate(c, "class_names_1"),
         "class_names holds 1 names but num_classes is 10"),
    Case("metadata arch_options num_classes", lambda c: evaluate(c, "arch_num_classes"),
         "arch_options must not set num_classes"),
    Case("torchvision option it does not take", digits("train", "--model", "tv:resnet18", "--model-option", "bogus=1"),
         "torchvision resnet18 does not accept the option(s) bogus=1", no_work),
    Case("--seed -1", lambda c: unlearn(c, "--seed", "-1"),
         "argument --seed: the seed must be an integer from 0 to 4294967295 (2**32 - 1); got -1", no_work),
    Case("--seed 2**70", lambda c: unlearn(c, "--seed", str(2**70)), "argument --seed: the seed must be", no_work),
    Case("--device ''", lambda c: ["eval", *D, "--quiet", "--device", ""], "argument --device: empty device name"),
    Case("bench --methods ,", lambda c: ["bench", *D, "--forget", "class:3", "--methods", ",", *Q],
         "--methods ',' names no method", no_work),
    Case("forget class:\u0663 (Arabic-Indic 3)", lambda c: unlearn(c, forget="class:\u0663"),
         "class list must be comma-separated integers", no_work),
    Case("forget random:\u0660.\u0661", lambda c: unlearn(c, forget="random:\u0660.\u0661"),
         "random fraction must be a number", no_work),
    Case("--set epochs=\u0663", lambda c: unlearn(c, "--set", "epochs=\u0663"), "epochs expects int", no_work),
    Case("workspace scratch folder is a file", lambda c: [*unlearn(c)[:-5], "--workspace",
                                                          str(broken_workspace(c, ".tmp")), *Q],
         ".tmp is not a folder", no_work),
    Case("workspace run folder is a file", lambda c: [*unlearn(c)[:-5], "--workspace",
                                                      str(broken_workspace(c, "run")), *Q],
         "run is not a folder", no_work),
    Case("workspace model folder is a file", lambda c: [*unlearn(c)[:-5], "--workspace",
                                                        str(broken_workspace(c, "model")), *Q],
         "model is not a folder", no_work),
    Case("workspace scratch folder links outside", lambda c: [*unlearn(c)[:-5], "--workspace",
                                                              str(broken_workspace(c, ".tmp", link_out=True)), *Q],
         "leads outside", no_work),
    Case("train: too little free space", lambda c: ["train", *D, "--workspace", str(c.ws), *Q],
         "MB free but this run stores about", little_free_space),
    Case("train: disk full inside safetensors", lambda c: ["train", *D, "--workspace", str(c.ws), "--epochs", "1",
                                                           "--model-option", "width=2", *Q],
         "the disk is full", safetensors_disk_full),
    Case("worker on a crafted run id", lambda c: ["worker", "../evil", "--workspace", str(c.ws)],
         "run id '../evil' is not a valid id"),
    # -- seed studies: refused before any member is trained --------------------------------------
    Case("study --seeds 3", lambda c: ["study", *D, "--forget", "class:3", "--method", "del", "--seeds", "3",
                                       "--workspace", str(c.ws), *Q],
         "--seeds must be a whole number from 4 to 64 (8 is the usual study); got 3"),
    Case("study --seed -1", lambda c: ["study", *D, "--forget", "class:3", "--method", "del", "--seed", "-1",
                                       "--workspace", str(c.ws), *Q], "argument --seed: the seed must be"),
    Case("study of a method that cannot forget the kind", lambda c: ["study", *D, "--forget", "random:0.1", "--method",
                                                                     "unsir", "--workspace", str(c.ws), *Q],
         "UNSIR (noise, impair, repair) supports class forgetting, not samples (random:0.1)"),
    Case("study --executor ray --address without Ray flags misuse", lambda c: ["study", *D, "--forget", "class:3",
                                                                              "--method", "del", "--ray-cpus", "2",
                                                                              "--workspace", str(c.ws), *Q],
         "--address and --ray-cpus need --executor ray"),
    # -- the last resort -----------------------------------------------------------------------
    Case("internal error", lambda c: unlearn(c), "internal error: RuntimeError: planted bug; trace written to",
         internal_bug, status=1),
]


def _files(*roots: Path) -> set[Path]:
    return {p for root in roots for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_refuses_in_one_line(case: Case, bad: dict[str, Path], marker: Path, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    ctx = Ctx(bad, tmp_path / "ws", tmp_path / "scratch")
    ctx.tmp.mkdir()
    populated_workspace(ctx.ws)
    argv = case.argv(ctx)  # built first: some cases write their own broken workspace into scratch
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # anything written to "the current folder" would show up here
    before = _files(tmp_path, bad["a_file"].parent)
    held = case.fault(ctx, monkeypatch) if case.fault else None

    status = main(argv)

    monkeypatch.undo()
    if isinstance(held, sqlite3.Connection):
        held.close()
    out, err = capsys.readouterr()
    assert status == case.status, err
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    assert case.expect in err, err
    assert "weights_only=False" not in err
    new = _files(tmp_path, bad["a_file"].parent) - before
    assert all(ctx.ws in p.parents for p in new), new  # nothing written outside the workspace
    assert not marker.exists()
    ws = Workspace(ctx.ws)  # still readable, nothing lost or half-written
    assert [e.name for e in ws.list("model")] == ["tiny"]
    assert [e.name for e in ws.list("forget_set")] == ["first ten"]
    assert not any((ctx.ws / ".tmp").glob("*"))


def test_internal_error_leaves_its_trace_in_the_workspace_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    internal_bug(Ctx({}, tmp_path, tmp_path), monkeypatch)
    assert main(["unlearn", *D, "--forget", "class:3", "--method", "finetune", "--workspace", str(tmp_path)]) == 1
    logs = list((tmp_path / "logs").glob("cli-*.log"))
    assert len(logs) == 1 and str(logs[0]) in capsys.readouterr().err
    text = logs[0].read_text()
    assert text.startswith("Traceback") and "RuntimeError: planted bug" in text


def test_catalogue_size() -> None:
    """The README quotes this count; keep them in step."""
    assert len(CASES) >= 60
