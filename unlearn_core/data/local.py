"""Datasets from a folder the user names: MNIST, FashionMNIST, CIFAR-10/100, SVHN and ImageFolder.

Nothing is ever downloaded. The files must sit in torchvision's on-disk layout (what
``torchvision.datasets.X(root, download=True)`` leaves behind). The official formats are read by
the small readers below rather than torchvision's dataset classes: those verify the MD5 checksums
of the official archives (rejecting re-packed copies and the tiny files the tests write), and
torchvision's MNIST reader cannot read the ``.gz`` files as downloaded. ImageFolder folders are
walked by the file-system policy (`fs_policy.TreeWalk`: regular files inside the root only, each
once, in torchvision's order). Everything is loaded into memory as float32 in [0, 1].
"""

from __future__ import annotations

import gzip
import pickle
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from unlearn_core.data.base import Split, SplitDataset, stratified_split
from unlearn_core.data.registry import register_dataset
from unlearn_core.fs_policy import TreeWalk

_NEVER_DOWNLOADS = "download it yourself; this app never downloads"
_DIGITS = [str(d) for d in range(10)]
_FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def _root(name: str, root: str | None, holds: str) -> Path:
    """`root` as a Path, or a ValueError saying which folder the dataset needs."""
    if root is None or str(root).strip() == "":
        raise ValueError(f"{name} needs root=: the folder that holds {holds} ({_NEVER_DOWNLOADS})")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ValueError(f"{name} not found: folder {path} does not exist (expected it to hold {holds})")
    return path


def _require(name: str, files: list[Path]) -> None:
    """A ValueError naming the expected paths when any of `files` is missing."""
    missing = [f for f in files if not f.is_file()]
    if missing:
        shown = ", ".join(str(f) for f in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ValueError(f"{name} not found: expected {shown} ({_NEVER_DOWNLOADS})")


def _subset(n: int, limit: int | None, seed: int) -> np.ndarray:
    """Sorted indices of at most `limit` of `n` samples (a seeded random choice), or all."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images or None; got {limit}")
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def _split(images: np.ndarray, labels: np.ndarray, limit: int | None, seed: int) -> Split:
    """uint8 images [N, C, H, W] and labels -> a float Split (optionally subsampled)."""
    idx = _subset(len(labels), limit, seed)
    x = torch.from_numpy(np.ascontiguousarray(images[idx])).float().div_(255.0)
    y = torch.from_numpy(np.asarray(labels)[idx].astype(np.int64))
    return Split(x, y, {"source_index": idx})


def _dataset(name: str, train: Split, test: Split, class_names: list[str], options: dict[str, object]) -> SplitDataset:
    bad = [int(v) for v in torch.cat([train.y, test.y]).unique() if not 0 <= v < len(class_names)]
    if bad:
        raise ValueError(f"{name}: labels {bad[:5]} outside 0..{len(class_names) - 1}")
    return SplitDataset(name=name, train=train, test=test, class_names=class_names, options=options)


# --- MNIST / FashionMNIST: idx files in <root>/<Folder>/raw/, raw or .gz -----------------------


def _read_idx(path: Path) -> np.ndarray:
    """An idx file of unsigned bytes (the MNIST format), plain or gzip-compressed."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError; a cut file an EOFError
            raise ValueError(
                f"{path} is not a readable gzip file ({err or type(err).__name__}): download it again, "
                "or put the uncompressed file next to it"
            ) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(dims)):
        raise ValueError(f"{path} holds {values.size} values, its header says {dims}")
    return values.reshape(dims)


def _idx_file(raw: Path, stem: str) -> Path:
    """The uncompressed idx file if present, else its .gz (the expected name if neither is)."""
    plain, packed = raw / stem, raw / f"{stem}.gz"
    return packed if not plain.is_file() and packed.is_file() else plain


def _load_idx_dataset(
    name: str, folder: str, class_names: list[str], root: str | None, limit: int | None, seed: int
) -> SplitDataset:
    raw = _root(name, root, f"{folder}/raw/") / folder / "raw"
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = _idx_file(raw, f"{prefix}-images-idx3-ubyte"), _idx_file(raw, f"{prefix}-labels-idx1-ubyte")
        _require(name, [images, labels])
        x, y = _read_idx(images), _read_idx(labels)
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(f"{name}: {images.name} / {labels.name} do not hold N images with N labels")
        if x.shape[1:] != (28, 28) or len(x) == 0:
            raise ValueError(f"{name}: {images} holds {len(x)} images of {x.shape[1]}x{x.shape[2]} pixels; "
                             f"{name} images are 28x28 (and a split needs at least one): use the official files")
        splits[split] = _split(x[:, None], y, limit, seed)
    return _dataset(
        name, splits["train"], splits["test"], class_names, {"root": str(root), "limit": limit, "seed": seed}
    )


@register_dataset("mnist", "MNIST handwritten digits from a local folder (<root>/MNIST/raw/)", needs_root=True)
def build_mnist(root: str | None = None, limit: int | None = None, seed: int = 0) -> SplitDataset:
    """MNIST (1 x 28 x 28) from ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.

    `limit` keeps at most that many images per split (a random subset fixed by `seed`).
    """
    return _load_idx_dataset("MNIST", "MNIST", _DIGITS, root, limit, seed)


@register_dataset("fashion_mnist", "Fashion-MNIST from a local folder (<root>/FashionMNIST/raw/)", needs_root=True)
def build_fashion_mnist(root: str | None = None, limit: int | None = None, seed: int = 0) -> SplitDataset:
    """Fashion-MNIST (1 x 28 x 28) from ``<root>/FashionMNIST/raw/`` (same file names as MNIST)."""
    return _load_idx_dataset("FashionMNIST", "FashionMNIST", _FASHION, root, limit, seed)


# --- CIFAR-10 / CIFAR-100: pickled batches ------------------------------------------------------


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a crafted file cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    # The official files are Python pickles; only containers and numpy arrays are accepted.
    with open(path, "rb") as f:
        entry = _ArraysOnlyUnpickler(f, encoding="latin1").load()
    if not isinstance(entry, dict):
        raise ValueError(f"{path} does not hold a CIFAR batch (a pickled dict)")
    return entry


def _load_cifar(
    name: str,
    folder: str,
    batches: dict[str, list[str]],
    meta: tuple[str, str],
    label_key: str,
    root: str | None,
    limit: int | None,
    seed: int,
) -> SplitDataset:
    base = _root(name, root, f"{folder}/") / folder
    _require(name, [base / f for files in batches.values() for f in files] + [base / meta[0]])
    try:
        class_names = [str(c) for c in _unpickle(base / meta[0])[meta[1]]]
        splits = {}
        for split, files in batches.items():
            entries = [_unpickle(base / f) for f in files]
            data = np.vstack([np.asarray(e["data"], dtype=np.uint8) for e in entries]).reshape(-1, 3, 32, 32)
            labels = np.concatenate([np.asarray(e[label_key], dtype=np.int64) for e in entries])
            if len(data) != len(labels):
                raise ValueError(f"{len(data)} images but {len(labels)} labels")
            splits[split] = _split(data, labels, limit, seed)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, IndexError, AttributeError,
            OverflowError, OSError) as err:
        raise ValueError(
            f"{name} files in {base} are malformed or unsafe ({err}); use the python version of the official files"
        ) from None
    return _dataset(
        name, splits["train"], splits["test"], class_names, {"root": str(root), "limit": limit, "seed": seed}
    )


@register_dataset("cifar10", "CIFAR-10 from a local folder (<root>/cifar-10-batches-py/)", needs_root=True)
def build_cifar10(root: str | None = None, limit: int | None = None, seed: int = 0) -> SplitDataset:
    """CIFAR-10 (3 x 32 x 32) from ``<root>/cifar-10-batches-py/`` (python version of the files)."""
    batches = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    return _load_cifar(
        "CIFAR-10", "cifar-10-batches-py", batches, ("batches.meta", "label_names"), "labels", root, limit, seed
    )


@register_dataset("cifar100", "CIFAR-100 (fine labels) from a local folder (<root>/cifar-100-python/)", needs_root=True)
def build_cifar100(root: str | None = None, limit: int | None = None, seed: int = 0) -> SplitDataset:
    """CIFAR-100 (3 x 32 x 32, 100 fine classes) from ``<root>/cifar-100-python/{train,test,meta}``."""
    batches = {"train": ["train"], "test": ["test"]}
    return _load_cifar(
        "CIFAR-100", "cifar-100-python", batches, ("meta", "fine_label_names"), "fine_labels", root, limit, seed
    )


# --- SVHN: MATLAB files -------------------------------------------------------------------------


@register_dataset("svhn", "SVHN house numbers from a local folder (<root>/{train,test}_32x32.mat)", needs_root=True)
def build_svhn(root: str | None = None, limit: int | None = None, seed: int = 0) -> SplitDataset:
    """SVHN (3 x 32 x 32) from ``<root>/train_32x32.mat`` and ``<root>/test_32x32.mat``.

    As in torchvision, the digit 0 (stored as label 10) becomes class 0.
    """
    import scipy.io

    base = _root("SVHN", root, "train_32x32.mat and test_32x32.mat")
    files = {"train": base / "train_32x32.mat", "test": base / "test_32x32.mat"}
    _require("SVHN", list(files.values()))
    splits = {}
    for split, path in files.items():
        try:
            mat = scipy.io.loadmat(str(path))
            images = np.transpose(np.asarray(mat["X"], dtype=np.uint8), (3, 2, 0, 1))  # [H, W, C, N] -> [N, C, H, W]
            labels = np.asarray(mat["y"], dtype=np.int64).reshape(-1)
        except (KeyError, ValueError, TypeError, IndexError, NotImplementedError, scipy.io.matlab.MatReadError,
                OSError, EOFError) as err:  # not a .mat file, a MATLAB 7.3 (HDF5) one, or a cut one
            raise ValueError(
                f"SVHN file {path} is malformed (expected arrays X [32, 32, 3, N] and y [N, 1]): {err}"
            ) from err
        if images.shape[1:] != (3, 32, 32) or len(images) != len(labels):
            raise ValueError(f"SVHN file {path}: X has shape {mat['X'].shape}, y has {len(labels)} labels")
        labels[labels == 10] = 0
        splits[split] = _split(images, labels, limit, seed)
    return _dataset("SVHN", splits["train"], splits["test"], _DIGITS, {"root": str(root), "limit": limit, "seed": seed})


# --- ImageFolder --------------------------------------------------------------------------------


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit (and 32-bit integer) grayscale scaled to 8 bits; `convert` would clip them to white."""
    if img.mode.startswith("I;16") or img.mode == "I":
        values = np.clip(np.asarray(img, dtype=np.float64), 0, 65535) / 257.0
        return Image.fromarray(np.rint(values).astype(np.uint8), mode="L")
    return img


def _load_images(samples: list[tuple[str, int]], size: int, grayscale: bool) -> torch.Tensor:
    mode = "L" if grayscale else "RGB"
    out = np.empty((len(samples), 1 if grayscale else 3, size, size), dtype=np.uint8)
    for i, (path, _) in enumerate(samples):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(path) as img:
                    arr = np.asarray(_to_8bit(img).convert(mode).resize((size, size), Image.Resampling.BILINEAR))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise ValueError(
                f"image {path} is too large to open safely ({err}); refused as a possible decompression bomb: "
                "shrink it or remove it from the folder"
            ) from None
        except (OSError, ValueError, SyntaxError, EOFError) as err:
            raise ValueError(f"cannot read image {path}: {err}; remove or re-save it") from None
        out[i] = arr[None] if grayscale else arr.transpose(2, 0, 1)
    return torch.from_numpy(out).float().div_(255.0)


def _image_extensions() -> tuple[str, ...]:
    """The file endings ImageFolder reads: torchvision's list (imported here, not at the top: importing
    torchvision imports its model zoo, seconds that listing or loading another dataset does not need)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return IMG_EXTENSIONS


def _scan(walk: TreeWalk, folder: Path, class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    """(path, label) of every image under ``folder/<class>/`` (a missing class folder holds none)."""
    return [(str(path), label) for name, label in class_to_idx.items() if (folder / name).is_dir()
            for path in walk.files(folder / name, _image_extensions())]


@register_dataset(
    "imagefolder", "any folder of class subfolders of images (optionally train/ and test/)", needs_root=True
)
def build_imagefolder(
    root: str | None = None,
    size: int = 32,
    grayscale: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
) -> SplitDataset:
    """Images from ``<root>/<class>/*.png`` (any PIL format), resized to `size` x `size`.

    With ``<root>/train/<class>/`` and ``<root>/test/<class>/`` those splits are used (classes
    from train/); otherwise a stratified split with `test_fraction` fixed by `seed`.
    `limit` keeps at most that many images (per split) before loading.
    """
    if not 4 <= size <= 256:
        raise ValueError(f"size must be between 4 and 256; got {size}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1); got {test_fraction}")
    base = _root("ImageFolder", root, "one subfolder of images per class")
    layout = "<root>/<class>/<image> or <root>/train/<class>/ and <root>/test/<class>/"
    has_splits = (base / "train").is_dir() and (base / "test").is_dir()
    train_dir = base / "train" if has_splits else base
    walk = TreeWalk(base)  # one walk for both splits: no image is read twice
    classes = [p.name for p in walk.subfolders(train_dir)]
    if not classes:
        raise ValueError(f"ImageFolder {train_dir}: no class folders (expected {layout})")
    class_to_idx = {name: i for i, name in enumerate(classes)}
    samples = _scan(walk, train_dir, class_to_idx)
    test_samples = _scan(walk, base / "test", class_to_idx) if has_splits else []
    walk.refuse_problems("ImageFolder")
    if not samples or (has_splits and not test_samples):
        where = train_dir if not samples else base / "test"
        raise ValueError(
            f"ImageFolder {where}: no images ({', '.join(_image_extensions())}) in class subfolders (expected {layout})"
        )
    if has_splits:
        extra = sorted({p.name for p in walk.subfolders(base / "test")} - set(classes))
        if extra:
            raise ValueError(f"ImageFolder {base / 'test'} has classes not in train/: {', '.join(extra)}")
        train_idx, test_idx = np.arange(len(samples)), np.arange(len(test_samples))
    else:
        labels = np.array([label for _, label in samples])
        train_idx, test_idx = stratified_split(labels, test_fraction, seed)
        test_samples = samples
        if len(test_idx) == 0 or len(train_idx) == 0:
            raise ValueError(
                f"ImageFolder {base}: {len(samples)} images split by test_fraction={test_fraction} leave "
                f"{len(train_idx)} to train and {len(test_idx)} to test; add images, change test_fraction, "
                "or give train/ and test/ folders"
            )
    train_idx = train_idx[_subset(len(train_idx), limit, seed)]
    test_idx = test_idx[_subset(len(test_idx), limit, seed)]

    def split(items: list[tuple[str, int]], idx: np.ndarray) -> Split:
        chosen = [items[i] for i in idx]
        labels = torch.tensor([label for _, label in chosen], dtype=torch.int64)
        return Split(_load_images(chosen, size, grayscale), labels, {"source_index": idx.astype(np.int64)})

    return SplitDataset(
        name="imagefolder",
        train=split(samples, train_idx),
        test=split(test_samples, test_idx),
        class_names=classes,
        options={
            "root": str(root),
            "size": size,
            "grayscale": grayscale,
            "test_fraction": test_fraction,
            "seed": seed,
            "limit": limit,
        },
    )
