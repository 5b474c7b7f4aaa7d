"""Datasets: built-in digits and shapes, and the local-folder loaders on tiny files written here."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from unlearn_core.data import Split, SplitDataset, get_dataset_info, list_datasets, load_dataset
from unlearn_core.data.shapes import COLORS, SHAPES, TRIGGER_SIZE, apply_trigger, build_shapes, render, rerender

SMALL = {"n_train": 600, "n_test": 120}


# every dataset builder here runs with the network blocked: nothing may be downloaded at run time
pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def shapes() -> SplitDataset:
    return build_shapes(**SMALL, seed=0)


@pytest.fixture(scope="module")
def poisoned() -> SplitDataset:
    return build_shapes(**SMALL, seed=0, mislabeled_fraction=0.1, backdoor_fraction=0.05, backdoor_target=3)


def test_registry_lists_every_dataset() -> None:
    names = {d.name for d in list_datasets()}
    assert {"digits", "shapes", "mnist", "fashion_mnist", "cifar10", "cifar100", "svhn", "imagefolder"} <= names
    assert not get_dataset_info("shapes").needs_root and get_dataset_info("cifar10").needs_root
    assert "correlation" in get_dataset_info("shapes").options()
    with pytest.raises(ValueError, match="no option"):
        load_dataset("shapes", colour=1)


def test_digits_sizes_and_range() -> None:
    data = load_dataset("digits", size=16)
    assert (len(data.train), len(data.test)) == (1438, 359)
    assert data.input_shape == (1, 16, 16) and data.num_classes == 10
    assert data.train.x.dtype == torch.float32 and data.train.y.dtype == torch.int64
    assert 0.0 <= float(data.train.x.min()) and float(data.train.x.max()) <= 1.0
    assert set(data.test.y.tolist()) == set(range(10))


# --- shapes -------------------------------------------------------------------------------------


def test_digits_are_scikit_learns_read_without_importing_it() -> None:
    import subprocess
    import sys

    from sklearn.datasets import load_digits

    from unlearn_core.data.digits import digits_arrays

    images, labels = digits_arrays()
    bunch = load_digits()
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(labels, bunch.target)
    loaded = subprocess.run([sys.executable, "-c", "import sys; from unlearn_core.data import load_dataset; "
                             "d = load_dataset('digits'); print(len(d.train), 'sklearn' in sys.modules)"],
                            capture_output=True, text=True, timeout=300, check=True)
    assert loaded.stdout.split() == ["1438", "False"]


def test_shapes_layout(shapes: SplitDataset) -> None:
    assert shapes.class_names == ["circle", "square", "triangle", "star", "cross", "diamond"]
    assert (len(shapes.train), len(shapes.test)) == (600, 120) and shapes.input_shape == (3, 32, 32)
    assert torch.bincount(shapes.train.y).tolist() == [100] * 6  # balanced
    assert 0.0 <= float(shapes.train.x.min()) and float(shapes.train.x.max()) <= 1.0
    for attr, values in shapes.concepts.items():
        for split in (shapes.train, shapes.test):
            assert split.meta[attr].dtype == np.int64
            assert split.meta[attr].min() >= 0 and split.meta[attr].max() < len(values)
    assert set(shapes.concepts) == {"color", "pattern", "size", "background"}
    assert shapes.describe()["flags"] == ["backdoor", "mislabeled"]
    assert not shapes.train.meta["mislabeled"].any() and not shapes.train.meta["backdoor"].any()
    assert shapes.backdoor_target is None and shapes.extras == {}
    assert build_shapes(**shapes.options).train.x.equal(shapes.train.x)  # options are the builder's arguments


def test_shapes_deterministic(shapes: SplitDataset) -> None:
    again = build_shapes(**SMALL, seed=0)
    assert shapes.train.x.numpy().tobytes() == again.train.x.numpy().tobytes()
    assert torch.equal(shapes.test.y, again.test.y)
    other = build_shapes(**SMALL, seed=1)
    assert not torch.equal(shapes.train.x, other.train.x)
    assert not torch.equal(shapes.train.x[:120], shapes.test.x)  # the test split has its own stream


def test_shapes_colour_correlates_with_class() -> None:
    data = build_shapes(n_train=3000, n_test=60, correlation=0.8)
    color, y = data.train.meta["color"], data.train.y.numpy()
    expected = 0.8 + 0.2 / len(COLORS)
    assert abs(np.mean(color[y == SHAPES.index("star")] == COLORS.index("yellow")) - expected) < 0.05
    assert abs(np.mean(color[y == SHAPES.index("circle")] == COLORS.index("red")) - expected) < 0.05
    # diamonds have no preferred colour
    assert np.bincount(color[y == SHAPES.index("diamond")], minlength=5).max() < 0.35 * (y == 5).sum()
    flat = build_shapes(n_train=3000, n_test=60, correlation=0.0)
    stars = flat.train.meta["color"][flat.train.y.numpy() == 3]
    assert abs(np.mean(stars == COLORS.index("yellow")) - 0.2) < 0.06


def test_shapes_pixels_match_colour_labels(shapes: SplitDataset) -> None:
    palette = np.array([render("circle", c, seed=None)[:, 16, 16] for c in COLORS])  # the solid colours
    chroma = palette / palette.sum(1, keepdims=True)
    for i in range(30):
        img = shapes.train.x[i].numpy()
        background = np.median(img.reshape(3, -1), axis=1)
        obj = np.abs(img - background[:, None, None]).sum(0) > 0.25
        assert obj.sum() > 20  # the object is visible
        mean = img[:, obj].mean(1)
        nearest = np.argmin(np.abs(chroma - mean / mean.sum()).sum(1))
        assert nearest == shapes.train.meta["color"][i], f"sample {i}"


def test_shapes_render_and_rerender(shapes: SplitDataset) -> None:
    star = render("star", "yellow", "solid", "large", "dark")
    assert star.shape == (3, 32, 32) and star.dtype == np.float32
    assert np.allclose(star[:, 16, 16], [0.95, 0.85, 0.10])  # the centre is filled
    assert np.allclose(star[:, 0, 0], 0.12)  # dark background in the corner
    assert (render("circle", "red") != render("square", "red")).any()
    with pytest.raises(ValueError, match="allowed"):
        render("hexagon", "red")
    blue = rerender(shapes.train, [0, 1, 2], color="blue")
    assert blue.shape == (3, 3, 32, 32)
    same = rerender(shapes.train, [0, 1, 2])
    assert (same - shapes.train.x[:3]).abs().mean() < 0.05  # same drawing, fresh noise only
    with pytest.raises(ValueError, match="cannot override"):
        rerender(shapes.train, [0], shape="star")


def test_shapes_mislabeled(poisoned: SplitDataset) -> None:
    meta, y = poisoned.train.meta, poisoned.train.y.numpy()
    assert meta["mislabeled"].sum() == 60
    assert (y[meta["mislabeled"]] != meta["true_label"][meta["mislabeled"]]).all()
    clean = ~meta["mislabeled"] & ~meta["backdoor"]
    assert (y[clean] == meta["true_label"][clean]).all()
    assert not (meta["mislabeled"] & meta["backdoor"]).any()
    assert (poisoned.test.y.numpy() == poisoned.test.meta["true_label"]).all()  # the test split is clean
    base = build_shapes(**SMALL, seed=0)
    assert torch.equal(base.test.x, poisoned.test.x)  # the options do not change the base images


def test_shapes_backdoor(poisoned: SplitDataset) -> None:
    meta, y, x = poisoned.train.meta, poisoned.train.y.numpy(), poisoned.train.x
    bd = meta["backdoor"]
    assert bd.sum() == 30 and poisoned.backdoor_target == 3
    assert (y[bd] == 3).all() and (meta["true_label"][bd] != 3).all()
    corner = x[:, :, -TRIGGER_SIZE:, -TRIGGER_SIZE:]
    checker = torch.tensor(np.indices((4, 4)).sum(0) % 2, dtype=torch.float32).expand(3, 4, 4)
    has_trigger = (corner == checker).flatten(1).all(1).numpy()
    assert (has_trigger == bd).all()
    extra = poisoned.extras["backdoor_test"]
    assert len(extra) == int((poisoned.test.y != 3).sum()) and (extra.y != 3).all()
    assert (extra.x[:, :, -4:, -4:] == checker).all()
    assert torch.equal(apply_trigger(poisoned.test.x[:2])[:, :, :-4], poisoned.test.x[:2, :, :-4])
    assert not torch.equal(apply_trigger(poisoned.test.x[:2]), poisoned.test.x[:2])  # a copy, input untouched


def test_shapes_bad_options() -> None:
    for bad in ({"correlation": 1.5}, {"mislabeled_fraction": -0.1}, {"backdoor_target": 6}, {"n_train": 3}):
        with pytest.raises(ValueError):
            build_shapes(**{**SMALL, **bad})


# --- local folders: tiny files in the real on-disk formats -------------------------------------


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(root: Path, folder: str, compress: bool, n: int = 20) -> np.ndarray:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n) % 10
    for prefix in ("train", "t10k"):
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            data = _idx(arr)
            name = f"{prefix}-{kind}-ubyte"
            if compress:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return images


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_like(tmp_path: Path, name: str, folder: str, compress: bool) -> None:
    images = _write_mnist(tmp_path, folder, compress)
    data = get_dataset_info(name).builder(root=str(tmp_path))
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10 and len(data.train) == 20
    assert torch.allclose(data.train.x[3, 0] * 255, torch.from_numpy(images[3]).float())
    assert data.test.y.tolist() == [i % 10 for i in range(20)]
    assert data.train.meta["source_index"].tolist() == list(range(20))
    limited = get_dataset_info(name).builder(root=str(tmp_path), limit=5)
    assert len(limited.train) == 5 and len(limited.test) == 5


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def test_cifar10(tmp_path: Path) -> None:
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    batches = {f"data_batch_{i}": 4 for i in range(1, 6)} | {"test_batch": 6}
    first = None
    for file, n in batches.items():
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        first = data if first is None else first
        _pickle(base / file, {"data": data, "labels": [i % 10 for i in range(n)]})
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _pickle(base / "batches.meta", {"label_names": names})
    data = load_dataset("cifar10", root=str(tmp_path))
    assert (len(data.train), len(data.test)) == (20, 6) and data.input_shape == (3, 32, 32)
    assert data.class_names == names
    assert torch.allclose(data.train.x[0] * 255, torch.from_numpy(first[0].reshape(3, 32, 32)).float())


def test_cifar100(tmp_path: Path) -> None:
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    rng = np.random.default_rng(0)
    for file, n in (("train", 12), ("test", 5)):
        _pickle(base / file, {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "fine_labels": list(range(n))})
    _pickle(base / "meta", {"fine_label_names": [f"c{i}" for i in range(100)]})
    data = load_dataset("cifar100", root=str(tmp_path))
    assert data.num_classes == 100 and len(data.train) == 12 and data.test.y.tolist() == [0, 1, 2, 3, 4]


def test_cifar_malformed(tmp_path: Path) -> None:
    base = tmp_path / "cifar-100-python"
    base.mkdir()
    for file in ("train", "test", "meta"):
        (base / file).write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="malformed"):
        load_dataset("cifar100", root=str(tmp_path))


class _CreatesAFile:
    """Unpickling this with plain pickle.load runs open(marker, "w"): the file appears."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_cifar_batch_with_a_code_payload_is_refused_without_running_it(tmp_path: Path) -> None:
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    marker = tmp_path / "pwned"
    for file in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        _pickle(base / file, {"data": np.zeros((2, 3072), dtype=np.uint8), "labels": [0, 1],
                              "x": _CreatesAFile(marker)})
    _pickle(base / "batches.meta", {"label_names": _CreatesAFile(marker)})
    assert not marker.exists()  # pickling only recorded the call
    with pytest.raises(ValueError, match="refusing to load"):
        load_dataset("cifar10", root=str(tmp_path))
    assert not marker.exists()


def test_svhn(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("test", 4)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)  # labels 1..10, 10 meaning digit 0
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat", {"X": x, "y": y})
        if split == "train":
            first = x[..., 0]
    data = load_dataset("svhn", root=str(tmp_path))
    assert (len(data.train), len(data.test)) == (8, 4) and data.input_shape == (3, 32, 32)
    assert data.test.y.tolist() == [1, 2, 3, 4]
    assert load_dataset("svhn", root=str(tmp_path), limit=100).train.y.tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    # torchvision's layout: image[c, h, w] = X[h, w, c]
    assert torch.allclose(data.train.x[0] * 255, torch.from_numpy(first.transpose(2, 0, 1)).float())


def _write_images(folder: Path, classes: dict[str, int]) -> None:
    for name, count in classes.items():
        (folder / name).mkdir(parents=True)
        for i in range(count):
            colour = (40 * i % 256, 100, 200) if name != "b" else (250, 10, 10)
            Image.new("RGB", (20 + i, 12), colour).save(folder / name / f"{i}.png")


def test_imagefolder_stratified_split(tmp_path: Path) -> None:
    _write_images(tmp_path, {"a": 5, "b": 5})
    data = load_dataset("imagefolder", root=str(tmp_path), size=16)
    assert data.class_names == ["a", "b"] and data.input_shape == (3, 16, 16)
    assert (len(data.train), len(data.test)) == (8, 2) and sorted(data.test.y.tolist()) == [0, 1]
    red = data.train.x[data.train.y == 1]
    assert torch.allclose(red[:, 0], torch.tensor(250 / 255)) and torch.allclose(red[:, 2], torch.tensor(10 / 255))
    gray = load_dataset("imagefolder", root=str(tmp_path), size=8, grayscale=True)
    assert gray.input_shape == (1, 8, 8)


def test_imagefolder_train_test_folders(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", {"a": 3, "b": 2, "c": 2})
    _write_images(tmp_path / "test", {"a": 1, "c": 2})  # a class may be missing from test/
    data = load_dataset("imagefolder", root=str(tmp_path))
    assert data.class_names == ["a", "b", "c"] and data.input_shape == (3, 32, 32)
    assert (len(data.train), len(data.test)) == (7, 3) and data.test.y.tolist() == [0, 2, 2]
    assert torch.equal(load_dataset("imagefolder", **data.options).test.x, data.test.x)  # options = arguments


def test_imagefolder_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="class"):
        load_dataset("imagefolder", root=str(tmp_path))  # empty folder
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match="no images"):
        load_dataset("imagefolder", root=str(tmp_path))
    (tmp_path / "a" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="leave 1 to train and 0 to test"):  # refused before any image is read
        load_dataset("imagefolder", root=str(tmp_path))
    for i in range(4):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a" / f"{i}.png")
    with pytest.raises(ValueError, match="broken.png"):
        load_dataset("imagefolder", root=str(tmp_path))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("mnist", "MNIST/raw/train-images-idx3-ubyte"),
        ("fashion_mnist", "FashionMNIST/raw/train-images-idx3-ubyte"),
        ("cifar10", "cifar-10-batches-py/data_batch_1"),
        ("cifar100", "cifar-100-python/train"),
        ("svhn", "train_32x32.mat"),
    ],
)
def test_missing_files_name_the_expected_path(tmp_path: Path, name: str, expected: str) -> None:
    with pytest.raises(ValueError) as err:
        load_dataset(name, root=str(tmp_path))
    message = str(err.value)
    assert str(tmp_path / expected) in message and "never downloads" in message
    with pytest.raises(ValueError, match="needs root="):
        load_dataset(name)
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset(name, root=str(tmp_path / "nowhere"))


def test_split_subset_keeps_meta(shapes: SplitDataset) -> None:
    part = shapes.train.subset([5, 1])
    assert isinstance(part, Split) and torch.equal(part.x[1], shapes.train.x[1])
    assert part.meta["color"].tolist() == shapes.train.meta["color"][[5, 1]].tolist()
