"""Shared bad inputs for the robustness catalogue: tiny files, written once per session.

Every file here is a few KB at most; nothing trains. `bad` maps a short name to a path (or a
folder used as ``--data-root``); `Payload` pickles a call that would create `MARKER` if anything
ever unpickled it.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from unlearn_core.models import ModelMeta, build_model, save_checkpoint
from unlearn_core.workspace.store import Workspace

torch.set_num_threads(1)

DIGITS_META = ModelMeta(arch="small_cnn", num_classes=10, input_shape=(1, 16, 16), dataset="digits",
                        arch_options={"width": 2})


class Payload:
    """Unpickling this would create the file `target`: every loader must refuse it without running it."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def tiny_state() -> dict[str, torch.Tensor]:
    """The state dict of an untrained small CNN of width 2 for digits (1 x 16 x 16, 10 classes)."""
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=2)
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def write_safetensors(path: Path, state: dict[str, torch.Tensor], meta: dict | str | None) -> Path:
    """A safetensors file with `meta` (a dict, raw text, or None for no metadata) as its studio metadata."""
    text = meta if isinstance(meta, str) or meta is None else json.dumps(meta)
    save_file(state, str(path), metadata=None if text is None else {"unlearn_studio": text})
    return path


def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _mnist(root: Path, gz_bytes: bytes | None = None, image_shape: tuple[int, int] = (28, 28)) -> Path:
    """An MNIST folder of 10 images per split; `gz_bytes` replaces the train images' .gz content."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((10, *image_shape), np.uint8)
    for prefix in ("train", "t10k"):
        (raw / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
        (raw / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(np.arange(10))))
    if gz_bytes is not None:
        (raw / "train-images-idx3-ubyte.gz").write_bytes(gz_bytes)
    return root


def _cifar(root: Path, evil_file: str, marker: Path) -> Path:
    """A CIFAR-10 folder whose `evil_file` is a pickle that would create `marker`."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    batch = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (base / name).write_bytes(pickle.dumps(batch))
    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    (base / evil_file).write_bytes(pickle.dumps({"data": Payload(str(marker)), "label_names": Payload(str(marker)),
                                                 "labels": [0, 1]}))
    return root


def png16(path: Path, values: np.ndarray) -> Path:
    """A 16-bit grayscale PNG written byte by byte (PIL writes these too; this keeps the bit depth explicit)."""
    h, w = values.shape
    raw = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def _imagefolder(root: Path, bad_image: bytes | None = None, size: int = 8) -> Path:
    """Two classes of three small PNGs each; `bad_image` (raw bytes) is added as one more image."""
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.full((size, size, 3), 40 * i, np.uint8)).save(root / c / f"{i}.png")
    if bad_image is not None:
        (root / "a" / "bad.png").write_bytes(bad_image)
    return root


@pytest.fixture(scope="session")
def marker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file every pickle payload would create; it must never exist."""
    return tmp_path_factory.mktemp("payload") / "PWNED"


@pytest.fixture(scope="session")
def bad(tmp_path_factory: pytest.TempPathFactory, marker: Path) -> dict[str, Path]:
    """Every bad file of the catalogue, by name (written once, read-only in spirit: never modify them)."""
    d = tmp_path_factory.mktemp("bad")
    state = tiny_state()
    meta = json.loads(DIGITS_META.to_json())
    files: dict[str, Path] = {}

    def put(name: str, path: Path) -> None:
        files[name] = path

    good = save_checkpoint(build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=2),
                           d / "good.safetensors", DIGITS_META)
    put("good", good)
    put("garbage.safetensors", d / "garbage.safetensors")
    files["garbage.safetensors"].write_bytes(os.urandom(300))
    put("width100000", write_safetensors(d / "width100000.safetensors", state, {**meta, "arch_options": {"width": 100000}}))
    put("width512", write_safetensors(d / "width512.safetensors", state, {**meta, "arch_options": {"width": 512}}))
    put("classes_ten", write_safetensors(d / "classes_ten.safetensors", state, {**meta, "num_classes": "ten"}))
    put("classes_huge", write_safetensors(d / "classes_huge.safetensors", state, {**meta, "num_classes": 10**9}))
    put("recipe_key", write_safetensors(d / "recipe_key.safetensors", state, {**meta, "recipe": {"epochz": 3}}))
    put("shape_text", write_safetensors(d / "shape_text.safetensors", state, {**meta, "input_shape": "1x16x16"}))
    put("meta_not_json", write_safetensors(d / "meta_not_json.safetensors", state, "{not json"))
    put("arch_number", write_safetensors(d / "arch_number.safetensors", state, {**meta, "arch": 7}))
    put("width_text", write_safetensors(d / "width_text.safetensors", state, {**meta, "arch_options": {"width": "wide"}}))
    nan = dict(state)
    nan["head.weight"] = state["head.weight"].clone().fill_(float("nan"))
    put("nan", write_safetensors(d / "nan.safetensors", nan, meta))
    inf = dict(state)
    inf["features.0.0.weight"] = state["features.0.0.weight"].clone()
    inf["features.0.0.weight"][0, 0, 0, 0] = float("inf")
    put("inf", write_safetensors(d / "inf.safetensors", inf, meta))
    put("no_meta", write_safetensors(d / "no_meta.safetensors", state, None))
    shapes_meta = {**meta, "num_classes": 6, "input_shape": [3, 32, 32], "dataset": "shapes"}
    shapes_model = build_model("small_cnn", num_classes=6, in_channels=3, image_size=32, width=2)
    put("shapes_model", write_safetensors(d / "shapes_model.safetensors",
                                          {k: v.contiguous() for k, v in shapes_model.state_dict().items()},
                                          shapes_meta))
    torch.save(state, d / "plain.pt")
    put("plain.pt", d / "plain.pt")
    torch.save({"weights": state, "extra": Payload(str(marker))}, d / "evil.pt")
    put("evil.pt", d / "evil.pt")
    (d / "evil_raw.pt").write_bytes(pickle.dumps(Payload(str(marker)), protocol=4))
    put("evil_raw.pt", d / "evil_raw.pt")
    (d / "evil_pickle.safetensors").write_bytes(pickle.dumps(Payload(str(marker))))
    put("evil_pickle.safetensors", d / "evil_pickle.safetensors")
    put("folder.safetensors", d / "folder.safetensors")
    files["folder.safetensors"].mkdir()

    put("a_file", d / "a_file")
    files["a_file"].write_text("not a folder")
    put("mnist_bad_gz", _mnist(d / "mnist_bad_gz", b"this is not gzip data"))
    put("mnist_cut_gz", _mnist(d / "mnist_cut_gz", gzip.compress(_idx(np.zeros((10, 28, 28), np.uint8)))[:40]))
    put("svhn_not_mat", d / "svhn_not_mat")
    files["svhn_not_mat"].mkdir()
    for split in ("train", "test"):
        (files["svhn_not_mat"] / f"{split}_32x32.mat").write_bytes(b"<html>404 not found</html>" * 4)
    put("cifar_evil_meta", _cifar(d / "cifar_evil_meta", "batches.meta", marker))
    put("cifar_evil_batch", _cifar(d / "cifar_evil_batch", "data_batch_1", marker))
    put("images_garbage", _imagefolder(d / "images_garbage", os.urandom(200)))
    put("images_bomb", _imagefolder(d / "images_bomb", size=8))  # the catalogue lowers PIL's pixel limit
    put("images_ok", _imagefolder(d / "images_ok"))
    put("images_empty", d / "images_empty")
    (files["images_empty"] / "a").mkdir(parents=True)

    # -- issue 26: file-system and late-failure cases --------------------------------------------
    put("images_fifo", _imagefolder(d / "images_fifo"))
    os.mkfifo(files["images_fifo"] / "a" / "zz.png")  # opening it would block forever
    put("images_loop", _imagefolder(d / "images_loop"))
    (files["images_loop"] / "a" / "up").symlink_to("..")  # a class folder linking to its parent
    put("images_non_utf8", _imagefolder(d / "images_non_utf8"))
    os.mkdir(os.fsencode(files["images_non_utf8"]) + b"/caf\xe9")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(os.fsdecode(os.fsencode(files["images_non_utf8"])
                                                                    + b"/caf\xe9/0.png"))
    put("images_one_each", d / "images_one_each")  # one image per class: test_fraction 0.2 leaves no test image
    for c in ("a", "b"):
        (files["images_one_each"] / c).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(files["images_one_each"] / c / "0.png")
    put("mnist_2x2", _mnist(d / "mnist_2x2", image_shape=(2, 2)))
    put("mnist_0x0", _mnist(d / "mnist_0x0", image_shape=(0, 0)))
    for dtype in (torch.int64, torch.bool):
        wrong = dict(state)
        wrong["head.weight"] = state["head.weight"].to(dtype)
        name = f"head_{str(dtype).removeprefix('torch.')}"
        put(name, write_safetensors(d / f"{name}.safetensors", wrong, meta))
    put("class_names_1", write_safetensors(d / "class_names_1.safetensors", state, {**meta, "class_names": ["0"]}))
    put("arch_num_classes", write_safetensors(d / "arch_num_classes.safetensors", state,
                                              {**meta, "arch_options": {"num_classes": 3}}))

    put("indices_out_of_range", d / "indices_out_of_range.txt")
    files["indices_out_of_range"].write_text("1\n2\n999999\n")
    put("indices_text", d / "indices_text.txt")
    files["indices_text"].write_text("1\ntwo\n")

    put("registry_garbage", d / "registry_garbage")
    files["registry_garbage"].mkdir()
    (files["registry_garbage"] / "registry.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(2000))
    return files


def populated_workspace(root: Path) -> Workspace:
    """A workspace holding one model and one forget set (to check it is still readable afterwards)."""
    ws = Workspace(root)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=2)
    ws.save_model(model, DIGITS_META, "tiny")
    ws.save_forget_set("first ten", "digits", "indices", np.arange(10))
    return ws


def truncated_registry(root: Path) -> Path:
    """A workspace whose registry lost its second half (a copy cut short by a full disk)."""
    ws = populated_workspace(root)
    for i in range(40):
        ws.save_forget_set(f"set {i}", "digits", "indices", np.arange(3))
    registry = root / "registry.sqlite"
    with sqlite3.connect(registry) as db:
        db.execute("PRAGMA wal_checkpoint")
    size = registry.stat().st_size
    with open(registry, "r+b") as f:
        f.truncate(size // 2)
    return root
