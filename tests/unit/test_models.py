"""Models: the features / head split of every architecture, and safe, strict checkpoint I/O."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from unlearn_core.models import (
    CheckpointMismatch,
    ModelMeta,
    SplitClassifier,
    build_model,
    check_state_dict,
    list_models,
    load_checkpoint,
    read_meta,
    read_state_dict,
    save_checkpoint,
    state_digest,
)
from unlearn_core.models.checkpoint import MAX_CHANNELS, MAX_CLASSES, MAX_IMAGE_SIZE, check_finite

# every model builder here (tv: models included) runs with the network blocked: weights are never downloaded
pytestmark = pytest.mark.usefixtures("no_network")


def test_no_network_fixture_catches_a_weights_download(no_network, tmp_path) -> None:
    """The guard these tests rely on stops the path a torchvision weights download takes."""
    with pytest.raises(no_network):
        torch.hub.load_state_dict_from_url("https://download.pytorch.org/models/resnet18-f37072fd.pth",
                                           model_dir=str(tmp_path))
    model = build_model("tv:mobilenet_v3_small", num_classes=10, in_channels=3, image_size=32)
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 10)

def _small_meta(**changes: object) -> ModelMeta:
    base = dict(
        arch="small_cnn", num_classes=10, input_shape=(1, 16, 16), dataset="digits",
        dataset_options={"size": 16, "seed": 0}, class_names=[str(i) for i in range(10)],
        arch_options={"width": 8}, recipe={"epochs": 3, "lr": 0.05}, seed=7,
        metrics={"test_acc": 0.5}, note="unit test",
    )
    base.update(changes)
    return ModelMeta(**base)


@pytest.fixture
def small() -> tuple[SplitClassifier, ModelMeta]:
    torch.manual_seed(0)
    meta = _small_meta()
    model = meta.build().eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so buffers are checked too
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model, meta


# --- architectures ----------------------------------------------------------------------------


def _check_split(model: SplitClassifier, x: torch.Tensor, num_classes: int) -> None:
    model.eval()
    with torch.no_grad():
        z = model.features(x)
        out = model(x)
        assert z.shape == (len(x), model.feature_dim)
        assert out.shape == (len(x), num_classes) and model.num_classes == num_classes
        assert isinstance(model.head, torch.nn.Linear)
        assert torch.equal(model.head(z), out)
    assert all(n in dict(model.named_parameters()) for n in model.head_parameter_names())


@pytest.mark.parametrize("channels", [1, 3])
def test_small_cnn_split(channels: int) -> None:
    model = build_model("small_cnn", num_classes=5, in_channels=channels, image_size=16, width=8)
    _check_split(model, torch.rand(3, channels, 16, 16), 5)
    assert model.feature_dim == 16  # 2 * width
    # global pooling: the same network runs on other sizes
    _check_split(model, torch.rand(2, channels, 24, 24), 5)


def test_resnet18_split() -> None:
    model = build_model("resnet18", num_classes=6, in_channels=3, image_size=32, width=8)
    _check_split(model, torch.rand(2, 3, 32, 32), 6)
    assert model.feature_dim == 64  # 8 * width


@pytest.mark.parametrize("channels", [1, 3])
def test_torchvision_model_split(channels: int) -> None:
    model = build_model("tv:resnet18", num_classes=4, in_channels=channels, image_size=32)
    _check_split(model, torch.rand(2, channels, 32, 32), 4)
    assert model.feature_dim == 512


def test_registry_lists_builtins_and_rejects_unknown_names() -> None:
    names = {m.name for m in list_models()}
    assert {"small_cnn", "resnet18"} <= names
    assert next(m for m in list_models() if m.name == "small_cnn").options() == {"width": 32}
    with pytest.raises(ValueError, match=r"unknown model 'nope'.*resnet18.*small_cnn.*tv:"):
        build_model("nope", num_classes=10, in_channels=1, image_size=16)
    with pytest.raises(ValueError, match=r"torchvision has no classification model 'nope'; e\.g\. alexnet"):
        build_model("tv:nope", num_classes=10, in_channels=1, image_size=16)
    with pytest.raises(ValueError, match="no option.*depth"):
        build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, depth=3)
    with pytest.raises(ValueError, match="at least 2 classes"):
        build_model("small_cnn", num_classes=1, in_channels=1, image_size=16)


# --- checkpoints ------------------------------------------------------------------------------


def _outputs(model: torch.nn.Module) -> torch.Tensor:
    x = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        return model(x)


def test_safetensors_round_trip(tmp_path: Path, small) -> None:
    model, meta = small
    path = save_checkpoint(model, tmp_path / "sub" / "m.safetensors", meta)
    assert [p.name for p in path.parent.iterdir()] == ["m.safetensors"]  # no temp file left behind
    loaded, loaded_meta = load_checkpoint(path)
    assert loaded_meta == meta and read_meta(path) == meta
    assert isinstance(loaded_meta.input_shape, tuple)
    assert torch.equal(_outputs(loaded), _outputs(model))
    assert state_digest(loaded) == state_digest(model)
    assert not loaded.training


def test_pt_state_dict_needs_meta(tmp_path: Path, small) -> None:
    model, meta = small
    torch.save(model.state_dict(), tmp_path / "m.pt")
    with pytest.raises(ValueError, match="no architecture metadata"):
        load_checkpoint(tmp_path / "m.pt")
    loaded, loaded_meta = load_checkpoint(tmp_path / "m.pt", meta)
    assert loaded_meta is meta
    assert torch.equal(_outputs(loaded), _outputs(model))
    # the common {"state_dict": ...} wrapper is accepted too
    torch.save({"state_dict": model.state_dict()}, tmp_path / "wrapped.pth")
    assert torch.equal(_outputs(load_checkpoint(tmp_path / "wrapped.pth", meta)[0]), _outputs(model))
    assert read_state_dict(tmp_path / "wrapped.pth").keys() == model.state_dict().keys()


class _Payload:
    """Unpickling this would create a file: the loader must never run it."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickled_object_is_refused_without_running(tmp_path: Path, small) -> None:
    model, meta = small
    marker = tmp_path / "pwned"
    torch.save({"weights": model.state_dict(), "extra": _Payload(str(marker))}, tmp_path / "evil.pt")
    assert not marker.exists()  # saving only records the call; loading unsafely would make it
    with pytest.raises(ValueError, match="evil.pt holds pickled Python objects.*refused") as err:
        load_checkpoint(tmp_path / "evil.pt", meta)
    assert "weights_only=False" not in str(err.value)  # never advises unsafe loading
    assert not marker.exists()


def test_bare_pickle_whose_torch_error_names_no_global_is_still_called_pickled_objects(tmp_path: Path, small) -> None:
    """Protocol 4 imports with STACK_GLOBAL: torch's message then names nothing, so the verdict rests on
    the loader's own opcode scan (read, never run)."""
    import pickle

    _, meta = small
    marker = tmp_path / "pwned"
    (tmp_path / "bare.pt").write_bytes(pickle.dumps(_Payload(str(marker)), protocol=4))
    with pytest.raises(ValueError, match=r"bare.pt holds pickled Python objects: .*refused"):
        load_checkpoint(tmp_path / "bare.pt", meta)
    assert not marker.exists()


def test_pt_with_non_tensors_is_refused(tmp_path: Path, small) -> None:
    model, meta = small
    torch.save({**model.state_dict(), "epoch": 3}, tmp_path / "mixed.pt")
    with pytest.raises(ValueError, match="does not hold a state dict of tensors"):
        load_checkpoint(tmp_path / "mixed.pt", meta)


@pytest.mark.parametrize("name", ["junk.safetensors", "junk.pt"])
def test_corrupt_file_gives_clear_error(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(os.urandom(512))
    with pytest.raises(ValueError, match=f"{name} is not a readable") as err:
        load_checkpoint(path, _small_meta())
    assert "\n" not in str(err.value)
    # Bytes that open with an object opcode (REDUCE), then break off: damaged, not "pickled objects".
    path.write_bytes(b"R" + bytes(range(256)))
    with pytest.raises(ValueError, match=f"{name} is not a readable") as err:
        load_checkpoint(path, _small_meta())
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_safetensors_without_metadata(tmp_path: Path, small) -> None:
    model, meta = small
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "bare.safetensors"))
    assert read_meta(tmp_path / "bare.safetensors") is None
    with pytest.raises(ValueError, match="bare.safetensors carries no architecture metadata"):
        load_checkpoint(tmp_path / "bare.safetensors")
    loaded, _ = load_checkpoint(tmp_path / "bare.safetensors", meta)
    assert torch.equal(_outputs(loaded), _outputs(model))


def test_missing_keys(tmp_path: Path, small) -> None:
    model, meta = small
    state = model.state_dict()
    del state["head.bias"]
    torch.save(state, tmp_path / "m.pt")
    with pytest.raises(CheckpointMismatch, match=r"missing keys: head\.bias") as err:
        load_checkpoint(tmp_path / "m.pt", meta)
    assert "unexpected" not in str(err.value) and "wrong shapes" not in str(err.value)


def test_unexpected_keys(small) -> None:
    model, _ = small
    state = {**model.state_dict(), "extra.weight": torch.zeros(3)}
    with pytest.raises(CheckpointMismatch, match=r"unexpected keys: extra\.weight") as err:
        check_state_dict(model, state)
    assert "missing" not in str(err.value)


def test_wrong_shapes_name_key_and_both_shapes(tmp_path: Path, small) -> None:
    model, meta = small
    state = model.state_dict()
    state["head.weight"] = torch.zeros(5, 16)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "m.safetensors"), metadata={"unlearn_studio": meta.to_json()})
    with pytest.raises(CheckpointMismatch) as err:
        load_checkpoint(tmp_path / "m.safetensors")
    assert "head.weight: checkpoint (5, 16) vs model (10, 16)" in str(err.value)


def test_mismatch_lists_every_kind_and_truncates_long_lists(small) -> None:
    model, _ = small
    bigger = build_model("small_cnn", num_classes=10, in_channels=1, image_size=16, width=16)
    state = {k: v for k, v in bigger.state_dict().items() if k != "head.bias"}
    state["stray"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatch) as err:
        check_state_dict(model, state)
    message = str(err.value)
    assert "missing keys: head.bias" in message and "unexpected keys: stray" in message
    assert "wrong shapes:" in message and "in all)" in message  # many shapes differ: the list is cut
    assert isinstance(err.value, ValueError)


def test_meta_overrides_stored_architecture(tmp_path: Path, small) -> None:
    model, meta = small
    path = save_checkpoint(model, tmp_path / "m.safetensors", meta)
    wrong = _small_meta(arch_options={"width": 16})
    with pytest.raises(CheckpointMismatch, match="wrong shapes"):
        load_checkpoint(path, wrong)


_GOOD_META = {"arch": "small_cnn", "num_classes": 10, "input_shape": [1, 16, 16], "dataset": "digits", "note": "n",
              "dataset_options": {}, "arch_options": {}, "recipe": {}, "metrics": {}, "class_names": [], "seed": 1}


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("arch", "", "an architecture name"),
    ("dataset", 3, "text"), ("note", ["x"], "text"), ("dataset_options", [], "an object"),
    ("arch_options", "wide", "an object"), ("recipe", [1], "an object"), ("metrics", 0.5, "an object"),
    ("class_names", "abc", "a list of names"), ("class_names", ["a", 2], "a list of names"),
    ("seed", "7", "an integer"), ("seed", True, "an integer"),
])
def test_each_metadata_field_of_the_wrong_type_is_refused_by_name(field: str, value: object, expected: str) -> None:
    """Stored metadata is untrusted: every optional field is type-checked, and the message names it."""
    assert ModelMeta.from_json(json.dumps(_GOOD_META)).seed == 1  # the base record is valid
    with pytest.raises(ValueError) as refusal:
        ModelMeta.from_json(json.dumps({**_GOOD_META, field: value}))
    assert str(refusal.value) == f"metadata field {field} must be {expected}; got {value!r}"


def test_optional_metadata_fields_may_be_absent() -> None:
    required = {k: _GOOD_META[k] for k in ("arch", "num_classes", "input_shape")}
    meta = ModelMeta.from_json(json.dumps(required))
    assert (meta.arch, meta.num_classes, tuple(meta.input_shape)) == ("small_cnn", 10, (1, 16, 16))


@pytest.mark.parametrize(("field", "value", "ok"), [
    ("num_classes", 2, True), ("num_classes", 1, False), ("num_classes", MAX_CLASSES, True),
    ("num_classes", MAX_CLASSES + 1, False),
    ("input_shape", [1, 1, 1], True), ("input_shape", [MAX_CHANNELS, MAX_IMAGE_SIZE, MAX_IMAGE_SIZE], True),
    ("input_shape", [0, 16, 16], False), ("input_shape", [MAX_CHANNELS + 1, 16, 16], False),
    ("input_shape", [3, 0, 16], False), ("input_shape", [3, 16, 0], False),
    ("input_shape", [3, MAX_IMAGE_SIZE + 1, 16], False), ("input_shape", [3, 16, MAX_IMAGE_SIZE + 1], False),
    ("input_shape", [3, 32], False), ("input_shape", [3, 32, 32, 1], False), ("input_shape", [3, 32.0, 32], False),
    ("input_shape", [3, 1000, 32], True),  # a height above MAX_CHANNELS is fine: only the first entry is channels
])
def test_metadata_ranges_are_inclusive_at_both_ends(field: str, value: object, ok: bool) -> None:
    text = json.dumps({**_GOOD_META, field: value})
    if ok:
        assert getattr(ModelMeta.from_json(text), field) == (tuple(value) if isinstance(value, list) else value)
        return
    with pytest.raises(ValueError) as refusal:
        ModelMeta.from_json(text)
    expected = (f"an integer from 2 to {MAX_CLASSES}" if field == "num_classes"
                else f"[channels 1..{MAX_CHANNELS}, height, width 1..{MAX_IMAGE_SIZE}]")
    assert str(refusal.value) == f"metadata field {field} must be {expected}; got {value!r}"


def test_metadata_that_is_not_an_object_or_lacks_a_field_is_refused_with_the_exact_reason() -> None:
    for text, message in (("[1, 2]", "metadata is not a JSON object"), ('"x"', "metadata is not a JSON object"),
                          ('{"arch": "small_cnn", "input_shape": [1, 8, 8]}', "metadata lacks the field 'num_classes'")):
        with pytest.raises(ValueError) as refusal:
            ModelMeta.from_json(text)
        assert str(refusal.value) == message


def test_a_plain_pickle_without_objects_is_called_damaged_not_pickled_objects(tmp_path: Path) -> None:
    """The opcode scan flags imports and calls only: a pickle of plain data that torch cannot read is damaged."""
    import pickle

    (tmp_path / "plain.pt").write_bytes(pickle.dumps({"a": [1, 2]}, protocol=2))
    with pytest.raises(ValueError) as refusal:
        load_checkpoint(tmp_path / "plain.pt", _small_meta())
    assert str(refusal.value) == ("plain.pt is not a readable PyTorch state dict (damaged, or not a checkpoint): "
                                  "Invalid magic number; corrupt file?")  # torch 2.14's reason


def test_refusal_messages_name_the_file_and_say_what_to_do(tmp_path: Path, small) -> None:
    model, meta = small
    (tmp_path / "junk.safetensors").write_bytes(os.urandom(64))
    with pytest.raises(ValueError) as refusal:
        read_meta(tmp_path / "junk.safetensors")
    assert str(refusal.value).startswith("junk.safetensors is not a readable safetensors checkpoint: ")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["head.bias"][0] = float("nan")
    with pytest.raises(ValueError) as refusal:
        check_finite(state, "nan.pt")
    assert str(refusal.value) == ("nan.pt: tensor head.bias holds NaN or infinite values; refused (the model's outputs "
                                  "would be meaningless). Re-export the checkpoint from a model that trained normally")
    torch.save(model.state_dict(), tmp_path / "m.pt")
    with pytest.raises(ValueError) as refusal:
        load_checkpoint(tmp_path / "m.pt")
    assert str(refusal.value) == (
        "m.pt carries no architecture metadata (architecture, classes, input shape), so it cannot be rebuilt: train "
        "the model in the studio, or in Python pass a ModelMeta to load_checkpoint(path, meta) and re-save it with "
        "save_checkpoint(model, path, meta)")


@pytest.mark.parametrize("n_extra", [10, 11])
def test_a_mismatch_lists_ten_keys_then_the_count(small, n_extra: int) -> None:
    model, _ = small
    extra = {f"stray{i:02d}": torch.zeros(1) for i in range(n_extra)}
    with pytest.raises(CheckpointMismatch) as err:
        check_state_dict(model, {**model.state_dict(), **extra})
    shown = ", ".join(sorted(extra)[:10]) + (f", ... ({n_extra} in all)" if n_extra > 10 else "")
    assert str(err.value) == f"checkpoint does not fit the architecture; unexpected keys: {shown}"
    state = {k: v for k, v in model.state_dict().items() if k != "head.bias"}
    with pytest.raises(CheckpointMismatch) as err:
        check_state_dict(model, {**state, "stray": torch.zeros(1)})
    assert str(err.value) == "checkpoint does not fit the architecture; missing keys: head.bias; unexpected keys: stray"


def test_state_digest_is_twelve_hex_digits_and_changes_with_one_weight(small) -> None:
    model, _ = small
    digest = state_digest(model)
    assert re.fullmatch(r"[0-9a-f]{12}", digest)
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.head.bias[0] += 1e-3
    assert state_digest(other) != digest


def test_save_writes_through_a_temp_file_in_the_target_folder(tmp_path: Path, small, monkeypatch) -> None:
    """The rename is atomic only within one file system: the temp file sits beside the target. New folders
    are created, the file is readable by others (0o644, not mkstemp's 0o600), and a failed write leaves
    nothing behind and raises its own error."""
    import stat

    from unlearn_core.models import checkpoint

    model, meta = small
    renamed: list[tuple[str, str]] = []
    real_replace = os.replace
    monkeypatch.setattr(checkpoint.os, "replace", lambda src, dst: (renamed.append((src, dst)), real_replace(src, dst)))
    path = save_checkpoint(model, tmp_path / "a" / "b" / "m.safetensors", meta)
    assert path == tmp_path / "a" / "b" / "m.safetensors" and read_meta(path) == meta
    (src, dst), = renamed
    assert Path(src).parent == path.parent and src.endswith(".tmp") and Path(dst) == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644

    def broken_save(state, filename, metadata):
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", broken_save)
    with pytest.raises(OSError, match="^disk full$"):
        save_checkpoint(model, tmp_path / "c" / "m.safetensors", meta)
    assert list((tmp_path / "c").iterdir()) == []


def test_a_torch_refusal_is_cleaned_to_its_reason(tmp_path: Path) -> None:
    """torch colours its messages and wraps the reason in advice; only the reason is passed on."""
    from unlearn_core.models.checkpoint import _torch_load_error

    (tmp_path / "x.pt").write_bytes(b"not a pickle")
    coloured = RuntimeError("Weights only load failed.\n\x1b[1mWeightsUnpickler error: \x1b[0mUnsupported operand 149\n"
                            "Check the documentation of torch.load to learn more.")
    assert _torch_load_error(tmp_path / "x.pt", coloured) == (
        "x.pt is not a readable PyTorch state dict (damaged, or not a checkpoint): Unsupported operand 149")
    assert _torch_load_error(tmp_path / "x.pt", EOFError("\n  Ran out of input  \nmore")).endswith(": Ran out of input")
    assert _torch_load_error(tmp_path / "x.pt", EOFError()).endswith(": EOFError")
    refused = _torch_load_error(tmp_path / "x.pt", RuntimeError("Unsupported global: GLOBAL os.system was not an allowed global"))
    assert refused == ("x.pt holds pickled Python objects (e.g. os.system): it contains code or objects beyond tensors "
                       "and is refused; it will not be loaded, since loading it could run that code. A checkpoint must "
                       "hold tensors only: .safetensors, or a .pt state dict of tensors")
