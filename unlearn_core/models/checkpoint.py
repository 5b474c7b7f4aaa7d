"""Checkpoints: safetensors with JSON metadata; `.pt` state dicts only with `weights_only=True`.

A user's file is never unpickled into arbitrary objects. A state dict that does not fit the
architecture raises CheckpointMismatch listing missing / unexpected keys and wrong shapes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from unlearn_core.fs_policy import disk_error
from unlearn_core.models.base import SplitClassifier
from unlearn_core.models.registry import build_model

META_KEY = "unlearn_studio"


@dataclass
class ModelMeta:
    """Provenance stored in every checkpoint: what to build and how it was trained."""

    arch: str
    num_classes: int
    input_shape: tuple[int, int, int]
    dataset: str = ""
    dataset_options: dict[str, object] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    arch_options: dict[str, object] = field(default_factory=dict)
    recipe: dict[str, object] = field(default_factory=dict)
    seed: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMeta:
        """Parse and validate stored metadata (untrusted: it comes from a user's file).

        Types and ranges are checked before anything is built from them; a ValueError names
        the first bad field. Unknown top-level fields are ignored (files from newer versions).
        """
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"metadata is not valid JSON ({err})") from None
        if not isinstance(raw, dict):
            raise ValueError("metadata is not a JSON object")
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        for name in ("arch", "num_classes", "input_shape"):
            if name not in known:
                raise ValueError(f"metadata lacks the field {name!r}")
        _check_meta_fields(known)
        known["input_shape"] = tuple(known["input_shape"])
        return cls(**known)

    def build(self, device: torch.device | str | None = None) -> SplitClassifier:
        """A freshly initialised model of this architecture (on the ``"meta"`` device: shapes only)."""
        c, h, _ = self.input_shape
        with torch.device(device) if device is not None else contextlib.nullcontext():
            return build_model(
                self.arch, num_classes=self.num_classes, in_channels=c, image_size=h, **self.arch_options
            )


# Bounds on stored metadata: a file naming 10^9 classes must be refused before anything is built.
MAX_CLASSES = 100_000
MAX_CHANNELS = 64
MAX_IMAGE_SIZE = 4096


def _check_meta_fields(raw: dict[str, object]) -> None:
    """ValueError naming the first metadata field of the wrong type or out of range."""

    def is_int(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def bad(name: str, expected: str) -> ValueError:
        return ValueError(f"metadata field {name} must be {expected}; got {raw[name]!r}")

    if not isinstance(raw["arch"], str) or not raw["arch"]:
        raise bad("arch", "an architecture name")
    if not is_int(raw["num_classes"]) or not 2 <= raw["num_classes"] <= MAX_CLASSES:
        raise bad("num_classes", f"an integer from 2 to {MAX_CLASSES}")
    shape = raw["input_shape"]
    if (not isinstance(shape, (list, tuple)) or len(shape) != 3 or not all(is_int(v) for v in shape)
            or not 1 <= shape[0] <= MAX_CHANNELS or not all(1 <= v <= MAX_IMAGE_SIZE for v in shape[1:])):
        raise bad("input_shape", f"[channels 1..{MAX_CHANNELS}, height, width 1..{MAX_IMAGE_SIZE}]")
    for name, kind, expected in (
        ("dataset", str, "text"), ("note", str, "text"), ("dataset_options", dict, "an object"),
        ("arch_options", dict, "an object"), ("recipe", dict, "an object"), ("metrics", dict, "an object"),
        ("class_names", list, "a list of names"),
    ):
        if name in raw and not isinstance(raw[name], kind):
            raise bad(name, expected)
    if "seed" in raw and not is_int(raw["seed"]):
        raise bad("seed", "an integer")
    if "class_names" in raw and not all(isinstance(c, str) for c in raw["class_names"]):
        raise bad("class_names", "a list of names")
    if raw.get("class_names") and len(raw["class_names"]) != raw["num_classes"]:
        raise ValueError(f"metadata field class_names holds {len(raw['class_names'])} names but num_classes is "
                         f"{raw['num_classes']}; they must agree")
    fixed = sorted(set(raw.get("arch_options") or {}) & {"num_classes", "in_channels", "image_size"})
    if fixed:
        raise ValueError(f"metadata field arch_options must not set {', '.join(fixed)} (given by num_classes and "
                         "input_shape); got " + json.dumps(raw["arch_options"], sort_keys=True))
    if raw.get("recipe"):
        from unlearn_core.options import coerce_options, declared_types
        from unlearn_core.train import TrainConfig

        try:
            TrainConfig(**coerce_options(raw["recipe"], declared_types(TrainConfig), "recipe"))
        except ValueError as err:
            raise ValueError(f"metadata field recipe is not a training recipe: {err}") from None


class CheckpointMismatch(ValueError):
    """The state dict does not fit the architecture; the message lists every difference."""


def save_checkpoint(model: torch.nn.Module, path: str | Path, meta: ModelMeta) -> Path:
    """Write `model`'s state dict and `meta` to `path` atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        try:
            save_file(state, tmp, metadata={META_KEY: meta.to_json()})
        except SafetensorError as err:  # a full disk is a SafetensorError naming it in words only
            full = disk_error(err, path)
            if full is None:
                raise
            raise full from None
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_meta(path: str | Path) -> ModelMeta | None:
    """The metadata stored in a safetensors checkpoint, or None if it has none."""
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{Path(path).name} is not a readable safetensors checkpoint: {err}") from err
    if not raw:
        return None
    try:
        return ModelMeta.from_json(raw)
    except ValueError as err:
        raise ValueError(f"{Path(path).name} has unusable Unlearning Studio metadata: {err}") from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from `.safetensors`, or from a `.pt` / `.pth` file loaded with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise ValueError(f"{path.name} is not a readable safetensors checkpoint: {err}") from err
    try:
        with warnings.catch_warnings():  # torch warns (several lines) about pickle protocols it then refuses
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(_torch_load_error(path, err)) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path.name} does not hold a state dict of tensors")
    return obj


def _torch_load_error(path: Path, err: Exception) -> str:
    """A one-line reason a `.pt` file was refused.

    torch's own message advises re-running with the unsafe setting; none of it is passed on.
    Its wording changes between versions ("Unsupported global: GLOBAL x" up to 2.5, "Trying to
    load unsupported GLOBAL x whose module y is blocked" in 2.14), and for a bare pickle it only
    says "Unsupported operand", so the file's pickle opcodes are also scanned (never executed).
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    found = re.search(r"GLOBAL:? ([\w.]+)", text)
    if found or _pickles_objects(path):
        example = f" (e.g. {found.group(1)})" if found else ""
        return (
            f"{path.name} holds pickled Python objects{example}: it contains code or objects beyond tensors and "
            "is refused; it will not be loaded, since loading it could run that code. A checkpoint must hold "
            "tensors only: .safetensors, or a .pt state dict of tensors"
        )
    detail = re.search(r"WeightsUnpickler error:\s*(\S.*)", text)
    reason = detail.group(1).strip() if detail else next(
        (line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
    return f"{path.name} is not a readable PyTorch state dict (damaged, or not a checkpoint): {reason}"


_OBJECT_OPCODES = {"GLOBAL", "STACK_GLOBAL", "REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"}


def _pickles_objects(path: Path) -> bool:
    """Whether a bare pickle file imports or calls anything (read with pickletools: nothing runs).

    The whole stream is read before deciding (genops raises unless it reaches STOP): random bytes
    can hold an object opcode by chance before their first invalid one, and such a file is damaged,
    not a pickle.
    """
    import pickletools

    try:
        with open(path, "rb") as f:
            names = [op.name for op, _, _ in pickletools.genops(f)]
    except Exception:  # not a pickle at all (random bytes, a zip): genops stops at the first bad opcode
        return False
    return any(name in _OBJECT_OPCODES for name in names)


def check_finite(state: dict[str, torch.Tensor], name: str) -> None:
    """ValueError naming the first tensor holding NaN or infinite values (its outputs would be garbage)."""
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{name}: tensor {key} holds NaN or infinite values; refused (the model's outputs "
                             "would be meaningless). Re-export the checkpoint from a model that trained normally")


def _dtype_kind(dtype: torch.dtype) -> str:
    """What a tensor's values are: floating point, complex, bool or integer."""
    if dtype.is_floating_point:
        return "floating point"
    if dtype.is_complex:
        return "complex"
    return "bool" if dtype == torch.bool else "integer"


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Raise CheckpointMismatch naming every missing / unexpected key, wrong shape and wrong dtype
    (a kind of value other than the architecture's: an int64 or bool weight where floats belong;
    float16 for float32 is the same kind and loads)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    dtypes = sorted(
        f"{k}: checkpoint {str(state[k].dtype).removeprefix('torch.')} vs model "
        f"{str(expected[k].dtype).removeprefix('torch.')}"
        for k in set(expected) & set(state)
        if _dtype_kind(state[k].dtype) != _dtype_kind(expected[k].dtype)
    )
    if missing or unexpected or wrong or dtypes:
        parts = []
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong),
                             ("wrong dtypes", dtypes)):
            if items:
                shown = ", ".join(items[:10]) + (f", ... ({len(items)} in all)" if len(items) > 10 else "")
                parts.append(f"{title}: {shown}")
        raise CheckpointMismatch("checkpoint does not fit the architecture; " + "; ".join(parts))


def load_checkpoint(path: str | Path, meta: ModelMeta | None = None) -> tuple[SplitClassifier, ModelMeta]:
    """Build the model described by the file's metadata (or `meta`) and load its weights.

    `meta` is required for files without metadata (plain `.pt` state dicts) and, when given,
    overrides the stored metadata's architecture.

    The metadata is validated and compared with the tensor shapes on a shapes-only ("meta"
    device) model before the real one is allocated, so a file claiming ``width=100000`` is a
    CheckpointMismatch, not hundreds of GB of memory. Weights with NaN or Inf are refused.
    """
    path = Path(path)
    state = read_state_dict(path)
    stored = read_meta(path) if path.suffix == ".safetensors" else None
    meta = meta or stored
    if meta is None:
        raise ValueError(
            f"{path.name} carries no architecture metadata (architecture, classes, input shape), so it cannot be "
            "rebuilt: train the model in the studio, or in Python pass a ModelMeta to load_checkpoint(path, meta) "
            "and re-save it with save_checkpoint(model, path, meta)"
        )
    check_finite(state, path.name)
    try:
        check_state_dict(meta.build("meta"), state)
    except CheckpointMismatch as err:
        raise CheckpointMismatch(f"{path.name}: {err}") from None
    except ValueError as err:  # the metadata names an architecture or options that cannot be built
        raise ValueError(f"{path.name} describes a model that cannot be built: {err}") from None
    model = meta.build()
    model.load_state_dict(state)
    model.eval()
    return model, meta


def state_digest(model: torch.nn.Module) -> str:
    """A short content hash of the weights, to tell checkpoints apart in the UI and the store."""
    import hashlib

    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]
