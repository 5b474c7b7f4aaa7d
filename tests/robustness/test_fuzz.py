"""Property-based fuzzing (hypothesis, seeded) of what users type and the files they bring (issue 26).

Four categories, each asserting the same contract: either a clean refusal (a ValueError, the
project's error type, with a one-line message) or a correct result checked against a known answer;
never another exception.

- forget specs resolved against a small synthetic dataset (`FORGET_N` inputs)
- ``--set key=value`` values for every method's config (`SET_N`)
- checkpoint metadata written into a real safetensors file and loaded (`META_N`)
- data-folder trees (class names, images, garbage, links, FIFOs, non-UTF-8 names) loaded as
  an ImageFolder (`TREE_N`)

Each test counts the inputs it ran and asserts the count, so the total (>= 2,000) is pinned.
``derandomize=True`` makes every run draw the same inputs (seeded); no deadline (a loaded
machine must not turn a slow example into a failure).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import save_file

from unlearn_core.data import Split, SplitDataset, load_dataset
from unlearn_core.forget import resolve
from unlearn_core.methods import config_from_strings, config_schema, list_methods
from unlearn_core.models import ModelMeta, build_model, load_checkpoint

FORGET_N, SET_N, META_N, TREE_N = 800, 600, 400, 300


def _settings(n: int) -> settings:
    return settings(max_examples=n, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


def _clean_refusal(err: BaseException) -> None:
    """The contract for a refusal: the project's error type (ValueError) and one line."""
    assert isinstance(err, ValueError), f"{type(err).__name__}: {err}"
    text = str(err)
    assert text.strip() and "\n" not in text and "\r" not in text, repr(text)


# -- forget specs ----------------------------------------------------------------------------------
def _dataset() -> SplitDataset:
    """40 train / 12 test samples, 4 classes, a `color` concept and a `mislabeled` flag."""
    rng = np.random.default_rng(0)
    y, y_test = np.arange(40) % 4, np.arange(12) % 4
    color, color_test = rng.integers(0, 2, 40), rng.integers(0, 2, 12)
    train = Split(torch.zeros(40, 1, 4, 4), torch.as_tensor(y), {"color": color, "mislabeled": np.arange(40) % 7 == 0})
    test = Split(torch.zeros(12, 1, 4, 4), torch.as_tensor(y_test), {"color": color_test})
    return SplitDataset("fuzz", train, test, ["a", "b", "c", "d"], concepts={"color": ["red", "blue"]})


DIGITS = st.sampled_from(list("0123456789") + ["\u0663", "\u0661", "\uff13", "\u09e9", "\u00b2", "-", "+", " ", "_"])
NUMBER = st.one_of(st.integers(-10, 50).map(str), st.floats(allow_nan=True).map(str),
                   st.text(DIGITS, min_size=0, max_size=4), st.text(max_size=6))
VALID_CLASS = st.integers(0, 3).map(str)
FORGET_SPECS = st.one_of(
    st.builds(lambda v: f"class:{','.join(v)}", st.lists(VALID_CLASS, min_size=1, max_size=3)),
    st.builds(lambda f: f"random:{f}", st.floats(0.01, 0.9).map(lambda x: f"{x:.3f}")),
    st.builds(lambda f, c: f"random:{f}@{','.join(c)}", st.floats(0.01, 0.2).map(lambda x: f"{x:.2f}"),
              st.lists(VALID_CLASS, min_size=2, max_size=4)),
    st.builds(lambda v: f"class:{','.join(v)}", st.lists(NUMBER, max_size=5)),
    st.builds(lambda f, c: f"random:{f}" + (f"@{','.join(c)}" if c is not None else ""), NUMBER,
              st.none() | st.lists(NUMBER, max_size=3)),
    st.builds(lambda a, v: f"concept:{a}={v}", st.sampled_from(["color", "shape", "", "c\u00f6lor"]),
              st.sampled_from(["red", "blue", "", "RED", "gr\u00fcn"])),
    st.builds(lambda f: f"flag:{f}", st.sampled_from(["mislabeled", "backdoor", "color", "", "\x00"])),
    st.builds(lambda k, a: f"{k}:{a}", st.sampled_from(["class", "random", "flag", "klass", "", "CLASS", "indices"]),
              st.text(max_size=8)),
    st.text(max_size=12),
)


def test_forget_specs_resolve_correctly_or_are_refused_in_one_line() -> None:
    data, ran = _dataset(), []
    y = data.train.y.numpy()

    @_settings(FORGET_N)
    @given(FORGET_SPECS)
    def check(spec: str) -> None:
        ran.append(spec)
        if spec.startswith("indices:"):
            spec = "indices:/nonexistent/fuzz/indices.txt"  # never a path the fuzzer makes up
        try:
            forget = resolve(spec, data, seed=0)
        except Exception as err:  # noqa: BLE001 - the contract is checked below
            _clean_refusal(err)
            return
        assert all(ch.isascii() for ch in spec if ch.isdigit())  # a digit of another script is never read
        n = len(y)
        assert 0 < forget.n_forget < n and forget.n_forget + forget.n_retain == n
        assert np.intersect1d(forget.forget_idx, forget.retain_idx).size == 0
        if forget.kind == "class":
            assert np.array_equal(forget.forget_idx, np.flatnonzero(np.isin(y, forget.forget_classes)))
        if forget.kind == "flag":
            assert np.array_equal(forget.forget_idx, np.flatnonzero(data.train.meta["mislabeled"]))

    check()
    assert len(ran) >= FORGET_N


# -- --set values ----------------------------------------------------------------------------------
SCHEMAS = {m.name: (m.config_cls, {p.name: p for p in config_schema(m.config_cls)}) for m in list_methods()}
SET_VALUES = st.one_of(st.integers(-5, 300).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                       st.sampled_from(["true", "false", "yes", "no", "maybe", "", "1e400", "\u0663", "1_0", " 2 "]),
                       st.text(DIGITS, max_size=4), st.text(max_size=6))


def _valid_value(spec) -> st.SearchStrategy[str]:
    """A value inside the parameter's declared type, range and choices, as text."""
    if spec.choices is not None:
        return st.sampled_from([str(c) for c in spec.choices])
    if spec.type is bool:
        return st.sampled_from(["true", "false", "yes", "no", "1", "0", "TRUE"])
    low = spec.min if spec.min is not None else 0
    high = spec.max if spec.max is not None else low + 100
    if spec.type is int:
        return st.integers(int(low), int(high)).map(str)
    if spec.type is float:
        return st.floats(float(low), float(high)).map(repr)
    return st.text(max_size=6)


@st.composite
def set_pairs(draw: st.DrawFn) -> tuple[str, dict[str, str]]:
    method = draw(st.sampled_from(sorted(SCHEMAS)))
    specs = SCHEMAS[method][1]
    if specs and draw(st.booleans()):  # values the config must accept, and build exactly
        keys = draw(st.lists(st.sampled_from(sorted(specs)), max_size=3, unique=True))
        return method, {k: draw(_valid_value(specs[k])) for k in keys}
    keys = list(specs) + ["bogus", ""]
    pairs = draw(st.dictionaries(st.sampled_from(keys), SET_VALUES, max_size=3))
    return method, pairs


def test_set_values_build_the_config_they_spell_or_are_refused_in_one_line() -> None:
    ran = []

    @_settings(SET_N)
    @given(set_pairs())
    def check(case: tuple[str, dict[str, str]]) -> None:
        ran.append(case)
        method, pairs = case
        cls, specs = SCHEMAS[method]
        try:
            config = config_from_strings(cls, pairs)
        except Exception as err:  # noqa: BLE001
            _clean_refusal(err)
            return
        for key, raw in pairs.items():
            value, kind = getattr(config, key), specs[key].type
            assert type(value) is kind
            if kind in (int, float):
                assert raw.strip().isascii() and value == kind(raw)
            if kind is bool:
                assert value == (raw.lower() in ("true", "1", "yes"))

    check()
    assert len(ran) >= SET_N


# -- checkpoint metadata ---------------------------------------------------------------------------
GOOD_META = json.loads(ModelMeta("small_cnn", 10, (1, 16, 16), dataset="digits", arch_options={"width": 2},
                                 class_names=[str(i) for i in range(10)]).to_json())
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 2**40) | st.floats() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3), max_leaves=8)
OPTION_KEYS = st.sampled_from(["width", "num_classes", "in_channels", "image_size", "depth", ""])


BENIGN = {"seed": st.integers(0, 2**31), "note": st.text(max_size=8), "metrics": st.dictionaries(st.text(max_size=4),
                                                                                               st.floats(0, 1)),
          "dataset_options": st.dictionaries(st.text(max_size=4), st.integers()),
          "class_names": st.lists(st.text(max_size=3), min_size=10, max_size=10) | st.just([])}


@st.composite
def metadata(draw: st.DrawFn) -> dict:
    meta = dict(GOOD_META)
    if draw(st.booleans()):  # fields that change nothing the model is built from: it must load
        for field in draw(st.lists(st.sampled_from(sorted(BENIGN)), max_size=3, unique=True)):
            meta[field] = draw(BENIGN[field])
        return meta
    for field in draw(st.lists(st.sampled_from(sorted(GOOD_META) + ["extra"]), max_size=3, unique=True)):
        if field == "arch_options":
            meta[field] = draw(st.dictionaries(OPTION_KEYS, st.integers(-2, 4) | JSON_VALUES, max_size=2))
        elif field == "class_names":
            meta[field] = draw(st.lists(st.text(max_size=3), max_size=12))
        elif field == "num_classes":
            meta[field] = draw(st.integers(-1, 12) | JSON_VALUES)
        elif draw(st.booleans()):
            meta.pop(field, None)
        else:
            meta[field] = draw(JSON_VALUES)
    return meta


def test_checkpoint_metadata_loads_a_model_that_fits_or_is_refused_in_one_line(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=2)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path, ran = tmp_path / "fuzz.safetensors", []

    @_settings(META_N)
    @given(metadata())
    def check(meta: dict) -> None:
        ran.append(meta)
        save_file(state, str(path), metadata={"unlearn_studio": json.dumps(meta)})
        try:
            loaded, read = load_checkpoint(path)
        except Exception as err:  # noqa: BLE001
            _clean_refusal(err)
            return
        assert read.num_classes == 10 and read.input_shape == (1, 16, 16)
        assert not read.class_names or len(read.class_names) == read.num_classes
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())

    check()
    assert len(ran) >= META_N


# -- data-folder trees -----------------------------------------------------------------------------
CLASS_NAMES = st.sampled_from(["a", "b", "c", "caf\u00e9", "\u732b", "with space", ".hidden", "x" * 40])
ITEMS = st.sampled_from(["png"] * 12 + ["sub/png"] * 2 + ["notes.txt", "broken-link.png"]) | st.sampled_from([
    "png", "garbage.png", "notes.txt", "fifo.png", "link-parent", "link-sibling",
                         "link-outside", "link-file", "broken-link.png", "non-utf8-folder", "sub/png"])


@st.composite
def trees(draw: st.DrawFn) -> dict[str, list[str]]:
    return draw(st.dictionaries(CLASS_NAMES, st.lists(ITEMS, min_size=draw(st.integers(0, 4)), max_size=7),
                                max_size=4))


_BAD = {"garbage.png", "fifo.png", "link-parent", "link-sibling", "link-outside", "link-file", "non-utf8-folder"}


def _build(root: Path, outside: Path, tree: dict[str, list[str]]) -> int:
    """Write `tree` under `root`; returns the number of images a correct load must find (or -1 when
    the tree holds something the policy refuses or an unreadable image)."""
    expected, refused = 0, False
    for name, items in tree.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i, item in enumerate(items):
            if item in ("png", "sub/png"):
                target = folder / (f"sub/{i}.png" if item == "sub/png" else f"{i}.png")
                target.parent.mkdir(exist_ok=True)
                Image.fromarray(np.full((5, 5, 3), 10 * i, np.uint8)).save(target)
                expected += 1
            elif item == "garbage.png":
                (folder / f"{i}-garbage.png").write_bytes(b"not an image")
            elif item == "notes.txt":
                (folder / f"{i}-notes.txt").write_text("ignored")
            elif item == "fifo.png":
                os.mkfifo(folder / f"{i}-fifo.png")
            elif item == "link-parent":
                (folder / f"{i}-up").symlink_to("..")
            elif item == "link-sibling":
                (folder / f"{i}-sib").symlink_to(root)
            elif item == "link-outside":
                (folder / f"{i}-out").symlink_to(outside)
            elif item == "link-file":
                Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(outside / f"{name}-{i}.png")
                (folder / f"{i}-file.png").symlink_to(outside / f"{name}-{i}.png")
            elif item == "broken-link.png":
                (folder / f"{i}-broken.png").symlink_to(root / "nowhere.png")
            elif item == "non-utf8-folder":
                os.makedirs(os.fsencode(root) + b"/bad\xff" + str(i).encode(), exist_ok=True)
            refused = refused or item in _BAD
    return -1 if refused else expected


def test_data_folder_trees_load_every_image_once_or_are_refused_in_one_line() -> None:
    ran = []

    @_settings(TREE_N)
    @given(trees())
    def check(tree: dict[str, list[str]]) -> None:
        ran.append(tree)
        with tempfile.TemporaryDirectory() as tmp:
            root, outside = Path(tmp) / "root", Path(tmp) / "outside"
            root.mkdir()
            outside.mkdir()
            expected = _build(root, outside, tree)
            try:
                data = load_dataset("imagefolder", root=str(root), size=4)
            except Exception as err:  # noqa: BLE001
                _clean_refusal(err)
                return
            assert expected >= 0, f"loaded a tree the policy must refuse: {tree}"
            assert len(data.train) + len(data.test) == expected
            assert len(data.test) > 0 and len(data.train) > 0

    check()
    assert len(ran) >= TREE_N


@pytest.mark.parametrize("n", [FORGET_N + SET_N + META_N + TREE_N])
def test_the_suite_runs_at_least_2000_inputs(n: int) -> None:
    assert n >= 2000
