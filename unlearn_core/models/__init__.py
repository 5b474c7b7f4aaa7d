"""Models: architectures split into features + head, a registry, and safe checkpoint I/O."""

from unlearn_core.models import resnet, small_cnn  # noqa: F401  (registration)
from unlearn_core.models.base import SplitClassifier
from unlearn_core.models.checkpoint import (
    CheckpointMismatch,
    ModelMeta,
    check_state_dict,
    load_checkpoint,
    read_meta,
    read_state_dict,
    save_checkpoint,
    state_digest,
)
from unlearn_core.models.registry import ModelInfo, build_model, list_models, model_options, register_model

__all__ = [
    "CheckpointMismatch",
    "ModelInfo",
    "ModelMeta",
    "SplitClassifier",
    "build_model",
    "check_state_dict",
    "list_models",
    "model_options",
    "load_checkpoint",
    "read_meta",
    "read_state_dict",
    "register_model",
    "save_checkpoint",
    "state_digest",
]
