"""Forget sets: every spec kind resolves to exact, disjoint index sets; bad specs are refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn_core.data import Split, SplitDataset, load_dataset
from unlearn_core.forget import parse_spec, resolve


def _check_partition(fs, data: SplitDataset) -> None:
    n = len(data.train)
    assert fs.forget_idx.dtype == np.int64 and fs.retain_idx.dtype == np.int64
    assert np.all(np.diff(fs.forget_idx) > 0) and np.all(np.diff(fs.retain_idx) > 0)  # sorted, unique
    assert np.intersect1d(fs.forget_idx, fs.retain_idx).size == 0
    assert fs.n_forget + fs.n_retain == n and fs.n_forget > 0 and fs.n_retain > 0


def _tiny(meta_train: dict[str, np.ndarray], meta_test: dict[str, np.ndarray] | None = None,
          concepts: dict[str, list[str]] | None = None, n_train: int = 12, n_test: int = 6) -> SplitDataset:
    """A hand-made 3-class dataset of 4x4 images."""
    def split(n: int, meta: dict[str, np.ndarray]) -> Split:
        return Split(torch.zeros(n, 1, 4, 4), torch.arange(n) % 3, meta)

    return SplitDataset("tiny", split(n_train, meta_train), split(n_test, meta_test or {}), ["a", "b", "c"],
                        concepts=concepts or {})


def test_single_class(digits: SplitDataset) -> None:
    fs = resolve("class:3", digits)
    _check_partition(fs, digits)
    y, y_test = digits.train.y.numpy(), digits.test.y.numpy()
    assert np.array_equal(fs.forget_idx, np.flatnonzero(y == 3))
    assert np.array_equal(fs.test_forget_idx, np.flatnonzero(y_test == 3))
    assert fs.forget_classes == (3,) and fs.kind == "class" and fs.category == "class"
    assert np.array_equal(fs.test_retain_idx(len(digits.test)), np.flatnonzero(y_test != 3))


def test_multiple_classes(digits: SplitDataset) -> None:
    fs = resolve(" class:5,2 ", digits)
    _check_partition(fs, digits)
    assert fs.forget_classes == (2, 5)
    assert set(digits.train.y[fs.forget_idx].tolist()) == {2, 5}
    assert set(digits.train.y[fs.retain_idx].tolist()) == set(range(10)) - {2, 5}
    assert set(digits.test.y[fs.test_forget_idx].tolist()) == {2, 5}
    assert len(fs.test_forget_idx) == int(np.isin(digits.test.y.numpy(), [2, 5]).sum())


def test_random_is_seeded_reproducible_and_sized(digits: SplitDataset) -> None:
    a = resolve("random:0.1", digits, seed=0)
    _check_partition(a, digits)
    assert a.n_forget == round(0.1 * len(digits.train))
    assert np.array_equal(a.forget_idx, resolve("random:0.1", digits, seed=0).forget_idx)
    assert not np.array_equal(a.forget_idx, resolve("random:0.1", digits, seed=1).forget_idx)
    assert a.test_forget_idx is None and a.forget_classes == () and a.category == "samples"
    assert np.array_equal(a.test_retain_idx(len(digits.test)), np.arange(len(digits.test)))
    assert len(set(digits.train.y[a.forget_idx].tolist())) > 5  # drawn from across the classes
    assert resolve("random:0.0001", digits).n_forget == 1  # a tiny fraction still forgets one sample


def test_random_from_classes_is_non_iid(digits: SplitDataset) -> None:
    fs = resolve("random:0.1@2,5", digits, seed=4)
    _check_partition(fs, digits)
    assert fs.n_forget == round(0.1 * len(digits.train))  # a fraction of the whole train set
    assert set(digits.train.y[fs.forget_idx].tolist()) == {2, 5}
    assert fs.forget_classes == () and fs.category == "samples"
    assert np.array_equal(fs.forget_idx, resolve("random:0.1@2,5", digits, seed=4).forget_idx)
    with pytest.raises(ValueError, match="the chosen classes hold only"):
        resolve("random:0.5@2", digits)


def test_indices_file(tmp_path: Path, digits: SplitDataset) -> None:
    path = tmp_path / "pick.txt"
    path.write_text("7\n3\n\n3\n100\n")
    fs = resolve(f"indices:{path}", digits)
    _check_partition(fs, digits)
    assert fs.forget_idx.tolist() == [3, 7, 100]  # sorted, duplicates dropped
    assert fs.test_forget_idx is None and fs.category == "samples"


def test_concept_on_shapes() -> None:
    shapes = load_dataset("shapes", n_train=300, n_test=60)
    fs = resolve("concept:color=red", shapes)
    _check_partition(fs, shapes)
    red = shapes.concepts["color"].index("red")
    assert np.array_equal(fs.forget_idx, np.flatnonzero(shapes.train.meta["color"] == red))
    assert np.array_equal(fs.test_forget_idx, np.flatnonzero(shapes.test.meta["color"] == red))
    assert fs.kind == "concept" and fs.category == "concept" and fs.forget_classes == ()
    with pytest.raises(ValueError, match=r"concept color has no value 'pink'; values: red, green"):
        resolve("concept:color=pink", shapes)
    with pytest.raises(ValueError, match=r"bad concept 'shade=red' for shapes; concepts: color=red\|green"):
        resolve("concept:shade=red", shapes)
    with pytest.raises(ValueError, match="bad concept"):
        resolve("concept:color", shapes)
    # the clean default has flags, but nobody carries them: an empty set
    with pytest.raises(ValueError, match="empty"):
        resolve("flag:backdoor", shapes)


def test_concept_on_hand_made_dataset() -> None:
    data = _tiny({"hat": np.array([0, 1] * 6)}, {"hat": np.array([1, 0] * 3)}, concepts={"hat": ["no", "yes"]})
    fs = resolve("concept:hat=yes", data)
    assert fs.forget_idx.tolist() == [1, 3, 5, 7, 9, 11]
    assert fs.test_forget_idx.tolist() == [0, 2, 4]


def test_concept_values_may_hold_an_equals_sign_and_refusals_list_the_concepts() -> None:
    data = _tiny({"tag": np.array([0, 1] * 6), "hat": np.zeros(12, int)}, {"tag": np.array([1, 0] * 3)},
                 concepts={"tag": ["plain", "a=b"], "hat": ["no", "yes"]})
    assert resolve("concept:tag=a=b", data).forget_idx.tolist() == [1, 3, 5, 7, 9, 11]  # split at the first '='
    with pytest.raises(ValueError, match=r"^bad concept 'size=big' for tiny; concepts: tag=plain\|a=b, hat=no\|yes$"):
        resolve("concept:size=big", data)
    with pytest.raises(ValueError, match=r"^bad concept 'hat=yes' for tiny; concepts: none$"):
        resolve("concept:hat=yes", _tiny({}))


def test_non_iid_random_takes_class_0_and_may_take_every_sample_of_its_classes() -> None:
    data = _tiny({})  # 12 samples, labels 0, 1, 2, 0, 1, 2, ...: 4 per class
    assert resolve("random:0.25@0", data, seed=1).forget_idx.tolist() == [0, 3, 9]  # class 0 is a class
    whole = resolve("random:0.3333@0", data)  # round(0.3333 x 12) = 4 = every sample of class 0
    assert whole.forget_idx.tolist() == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="is 5 samples but the chosen classes hold only 4"):
        resolve("random:0.41@0", data)


def test_flag() -> None:
    flagged = np.zeros(12, dtype=bool)
    flagged[[2, 8]] = True
    data = _tiny({"mislabeled": flagged, "score": np.arange(12)})
    fs = resolve("flag:mislabeled", data)
    _check_partition(fs, data)
    assert fs.forget_idx.tolist() == [2, 8] and fs.test_forget_idx is None and fs.category == "samples"
    with pytest.raises(ValueError, match=r"dataset 'tiny' has no flag 'score'; flags: mislabeled"):
        resolve("flag:score", data)  # exists but is not a flag
    with pytest.raises(ValueError, match="no flag 'backdoor'; flags: none"):
        resolve("flag:backdoor", _tiny({}))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("class:10", r"class 10 does not exist; classes are 0\.\.9"),
        ("class:-1", "class -1 does not exist"),
        ("class:three", "class list must be comma-separated integers"),
        ("class:0,1,2,3,4,5,6,7,8,9", "holds the whole train set"),
        ("random:0", r"random fraction must be in \(0, 1\)"),
        ("random:1.5", r"random fraction must be in \(0, 1\)"),
        ("random:1", r"random fraction must be in \(0, 1\); got 1\.0"),
        ("random:lots", "random fraction must be a number"),
        ("random:0.1@12", "class 12 does not exist"),
        ("random:0.1@10", r"^class 10 does not exist; classes are 0\.\.9$"),  # one past the last class
        ("random:0.1@", "class list is empty"),
        ("classes:3", "bad forget spec 'classes:3'; use class:3"),
        ("class3", "bad forget spec"),
        ("class:", "bad forget spec"),
        ("", "bad forget spec"),
        ("indices:/no/such/file.txt", "index file not found"),
    ],
)
def test_refusals(digits: SplitDataset, spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve(spec, digits)


def test_index_file_refusals(tmp_path: Path, digits: SplitDataset) -> None:
    n = len(digits.train)
    cases = {
        "out.txt": (f"1\n{n}\n", f"index {n} in .* is out of range: the train set has indices 0..{n - 1}"),
        "neg.txt": ("-1\n", "index -1 .* is out of range"),
        "text.txt": ("1\nabc\n", "must hold one integer train index per line"),
        "empty.txt": ("\n", "is empty on digits: nothing to forget"),
        "all.txt": ("\n".join(map(str, range(n))), "holds the whole train set"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(content)
        with pytest.raises(ValueError, match=message):
            resolve(f"indices:{tmp_path / name}", digits)


def test_parse_spec() -> None:
    assert parse_spec(" random:0.1@2,5 ") == ("random", "0.1@2,5")
    assert parse_spec("concept:color=red") == ("concept", "color=red")
