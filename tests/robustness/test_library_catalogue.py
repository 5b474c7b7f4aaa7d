"""The library's documented refusals (ValueError with a one-line message naming the input), and the
cases where the old behaviour was silently wrong: each with its known answer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bad_inputs import DIGITS_META, Payload, png16
from PIL import Image

from unlearn_core.data import load_dataset
from unlearn_core.models import CheckpointMismatch, ModelMeta, load_checkpoint
from unlearn_core.options import coerce_options
from unlearn_core.train import TrainConfig
from unlearn_core.workspace.store import Workspace, WorkspaceError

CHECKPOINTS = {
    "garbage.safetensors": "is not a readable safetensors checkpoint",
    "width100000": "width must be from 1 to 1024",
    "width512": "does not fit the architecture",
    "classes_ten": "num_classes must be an integer",
    "classes_huge": "num_classes must be an integer",
    "recipe_key": "recipe has no option(s) epochz",
    "shape_text": "input_shape must be",
    "meta_not_json": "metadata is not valid JSON",
    "arch_number": "metadata field arch must be",
    "width_text": "option width expects an integer",
    "nan": "holds NaN or infinite values",
    "inf": "holds NaN or infinite values",
    "no_meta": "carries no architecture metadata",
    "plain.pt": "carries no architecture metadata",
    "evil.pt": "holds pickled Python objects",
    "evil_raw.pt": "holds pickled Python objects",
    "evil_pickle.safetensors": "is not a readable safetensors checkpoint",
}


@pytest.mark.parametrize("name", list(CHECKPOINTS))
def test_bad_checkpoint_is_refused_naming_the_file(bad: dict[str, Path], marker: Path, name: str) -> None:
    path = bad[name]
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert CHECKPOINTS[name] in message and path.name in message, message
    assert "\n" not in message and "weights_only=False" not in message
    assert not marker.exists()


def test_malicious_pt_refusal_says_it_will_not_be_loaded(bad: dict[str, Path], marker: Path) -> None:
    """torch 2.14 words its refusal "Trying to load unsupported GLOBAL x whose module y is blocked"."""
    with pytest.raises(ValueError) as err:
        load_checkpoint(bad["evil.pt"], DIGITS_META)
    message = str(err.value)
    assert "evil.pt holds pickled Python objects (e.g. io.open)" in message
    assert "contains code or objects" in message and "will not be loaded" in message
    assert not marker.exists()


def test_metadata_is_checked_against_the_weights_before_the_model_is_allocated(
        bad: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """width=512 (tensors of width 2): the mismatch is found on a shapes-only model; nothing real is built."""
    devices: list[object] = []
    real_build = ModelMeta.build

    def spy(self: ModelMeta, device=None):
        devices.append(device)
        return real_build(self, device)

    monkeypatch.setattr(ModelMeta, "build", spy)
    with pytest.raises(CheckpointMismatch, match=r"features\.0\.0\.weight: checkpoint \(2, 1, 3, 3\) vs model "
                                                 r"\(512, 1, 3, 3\)"):
        load_checkpoint(bad["width512"])
    assert devices == ["meta"]


def test_good_checkpoint_still_loads(bad: dict[str, Path]) -> None:
    model, meta = load_checkpoint(bad["good"])
    assert meta == DIGITS_META and model.num_classes == 10
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_cifar_payloads_are_never_run(bad: dict[str, Path], marker: Path) -> None:
    for root in ("cifar_evil_meta", "cifar_evil_batch"):
        with pytest.raises(ValueError, match="refusing to load io.open from a dataset file"):
            load_dataset("cifar10", root=str(bad[root]))
    assert not marker.exists()


def test_payload_would_really_create_the_marker(tmp_path: Path) -> None:
    """The control: unpickling the payload unsafely does create its file (so its absence above means something)."""
    import pickle

    target = tmp_path / "made"
    pickle.loads(pickle.dumps(Payload(str(target)))).close()
    assert target.exists()


# -- the workspace -------------------------------------------------------------------------------
ESCAPING_NAMES = ["../escape.txt", "/tmp/absolute.txt", "sub/file.txt", "..", ".", "", "info.json", "a\\b.txt",
                  "nul\x00.txt"]


@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_put_refuses_names_that_leave_the_entry_folder(tmp_path: Path, name: str) -> None:
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(ValueError, match="is not a plain file name"):
        ws.put("run", "r", dataset="digits", info={}, files={name: lambda p: p.write_text("x")})
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [tmp_path / "ws" / "registry.sqlite"]
    assert ws.list("run") == []


def test_put_accepts_plain_names(tmp_path: Path) -> None:
    entry = Workspace(tmp_path).put("run", "r", dataset="d", info={}, files={"result.json": lambda p: p.write_text("1")})
    assert entry.file("result.json").read_text() == "1"


@pytest.mark.parametrize(("root", "message"), [
    ("", "name is empty"), ("   ", "name is empty"), ("a_file", "is a file, not a folder"),
    ("a_file/sub", "a part of this path is a file"),
])
def test_workspace_roots_refused(bad: dict[str, Path], root: str, message: str) -> None:
    path = str(bad["a_file"].parent / root) if root.startswith("a_file") else root
    with pytest.raises(WorkspaceError, match=message):
        Workspace(path)


def test_garbage_registry_is_refused_and_left_as_it_was(bad: dict[str, Path]) -> None:
    registry = bad["registry_garbage"] / "registry.sqlite"
    before = registry.read_bytes()
    with pytest.raises(WorkspaceError, match="file is not a database.*move it away"):
        Workspace(bad["registry_garbage"])
    assert registry.read_bytes() == before  # loses nothing


# -- option values -------------------------------------------------------------------------------
BOOLS = {"no": False, "No": False, "false": False, "0": False, "off": False,
         "yes": True, "true": True, "1": True, "ON": True}


@pytest.mark.parametrize(("text", "value"), list(BOOLS.items()))
def test_booleans_are_parsed_strictly(text: str, value: bool) -> None:
    assert coerce_options({"grayscale": text}, {"grayscale": bool}, "x") == {"grayscale": value}


@pytest.mark.parametrize(("declared", "value"), [
    (bool, "maybe"), (bool, "nope"), (int, "3.5"), (int, "abc"), (int, True), (float, "nan"), (float, "inf"),
    (float, "abc"), (int | None, "many"), (str, 3),
])
def test_wrong_option_types_are_refused(declared: object, value: object) -> None:
    with pytest.raises(ValueError, match="option k expects"):
        coerce_options({"k": value}, {"k": declared}, "x")


def test_options_are_converted_by_their_declared_types() -> None:
    declared = {"size": int, "limit": int | None, "test_fraction": float, "root": str | None}
    got = coerce_options({"size": "32", "limit": "none", "test_fraction": "0.25", "root": "/data"}, declared, "x")
    assert got == {"size": 32, "limit": None, "test_fraction": 0.25, "root": "/data"}
    assert coerce_options({"test_fraction": 1}, declared, "x") == {"test_fraction": 1}  # an int is a number


def test_grayscale_no_loads_colour_images(bad: dict[str, Path]) -> None:
    root = str(bad["images_ok"])
    assert load_dataset("imagefolder", root=root, grayscale="no").input_shape == (3, 32, 32)
    assert load_dataset("imagefolder", root=root, grayscale="yes").input_shape == (1, 32, 32)


def test_stored_recipe_values_are_typed_too() -> None:
    meta = ModelMeta.from_json(DIGITS_META.to_json())
    assert meta == DIGITS_META
    with pytest.raises(ValueError, match="recipe.*option epochs expects an integer"):
        ModelMeta.from_json(DIGITS_META.to_json().replace('"recipe": {}', '"recipe": {"epochs": "ten"}'))
    assert TrainConfig(**{**TrainConfig().to_dict()}) == TrainConfig()


# -- images ---------------------------------------------------------------------------------------
def test_16_bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    """Old behaviour: convert('L') clipped every value above 255 to white (1.0)."""
    for c, value in (("a", 32896), ("b", 65535)):  # 32896 / 257 = 128; 65535 / 257 = 255
        for i in range(3):
            png16(tmp_path / c / f"{i}.png", np.full((8, 8), value if i else 0, np.uint16))
    assert Image.open(tmp_path / "a" / "1.png").mode.startswith("I;16")
    data = load_dataset("imagefolder", root=str(tmp_path), size=8, grayscale=True, test_fraction=0.34)
    x = torch.cat([data.train.x, data.test.x])
    y = torch.cat([data.train.y, data.test.y])
    assert torch.allclose(x[y == 0].amax(), torch.tensor(128 / 255))
    assert torch.allclose(x[y == 1].amax(), torch.tensor(1.0))
    assert x.amin() == 0.0
    rgb = load_dataset("imagefolder", root=str(tmp_path), size=8, grayscale=False, test_fraction=0.34)
    assert torch.allclose(rgb.train.x[rgb.train.y == 0].amax(), torch.tensor(128 / 255))
