"""Concept inference + data poisoning (Chang, Zhu, Xu, Liu, Zhou; arXiv 2405.15662).

What it does: finds the concept that ties the forget target to the model, pastes a donor class's
concept onto the target's images, relabels them, and fine-tunes the classification head (backbone
frozen) on those poisoned images together with the retain data.

Algorithm:
1. Concept inference on the train split: CAV bank from the dataset's concept labels, post-hoc
   concept bottleneck (elastic net on concept margins), IG class x concept matrix (captum;
   baseline = mean margins). Target concept = the forgotten class's top re-drawable concept (class
   forget set) or the spec's concept (concept forget set); donor class = the class sharing the
   target's top concepts; donor concept = the donor's strongest value of the same attribute.
2. Poison: every forget image gets the donor concept pasted where the target concept is (shapes:
   the object re-drawn in the donor colour), or stays unchanged (`paste=none`); labels become
   the donor class (`targeted`), a random other class (`random`), or stay (`keep`).
3. Fine-tune only the head on poisoned images + all or half of D_r; SGD, momentum 0.9. "half"
   keeps ⌈n_c / 2⌉ seeded images of every retained class (a stratified half; the paper's setting
   is the size, the stratification is this project's, so no class is under-represented by chance).

Deviations from the paper: the concept bank comes from the dataset's concept labels (or user
folders), not CLIP text embeddings of ConceptNet words; pasting re-draws the concept instead of
pasting a 64x64 donor patch located by CLIP similarity; datasets without concept labels (digits,
user data) skip inference: the donor class is the one the model confuses the forget images with
most and images stay unchanged (the paper's `none` mode). Because the backbone is frozen and in
eval mode, its features are computed once and the head is trained on them with `fit` (the same
updates as running the frozen backbone every step, much faster). Random labels exclude the
sample's own class and the forgotten classes (the paper draws from all classes). Defaults are
shorter than the paper's (SGD 1e-3, batch 32, 20-30 epochs) so a run takes seconds on a CPU.
Artifacts: target / donor class and concept, how they were chosen, the IG matrix, a few poisoned
images before / after, inference and fine-tune times.

Documentation (defaults with their measurements, deviations): docs/methods.md#concept_poisoning.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import torch

from unlearn_core.concepts.attribution import BASELINES
from unlearn_core.concepts.poisoning import LABEL_MODES, infer_concepts, paste_concept, plan_poisoning, poison_labels
from unlearn_core.forget import ForgetSet
from unlearn_core.methods.base import MethodConfig, RunContext, UnlearnData, UnlearnResult, param
from unlearn_core.methods.common import (
    batch_size_param,
    epochs_param,
    head_on_features,
    lr_param,
    run_fit,
    train_config,
)
from unlearn_core.methods.registry import register_method
from unlearn_core.models import ModelMeta, SplitClassifier
from unlearn_core.progress import check_stop
from unlearn_core.sampling import sample_per_class
from unlearn_core.train import Batches, extract_features

N_PREVIEW = 8


def _half(n: int) -> int:
    """``retain=half``: half of each retained class, rounded up (a class of 1 keeps its image)."""
    return (n + 1) // 2


class ConceptPoisoningConfig(MethodConfig):
    caveats: ClassVar[str] = (
        "Concept forgetting is hard: the retrained model still classifies many objects of the forgotten concept "
        "by their shape; this method matches that forget accuracy but costs retain accuracy. Class forgetting "
        "stays close to retraining."
    )
    caveat_results: ClassVar[tuple[str, ...]] = ("shapes-concept_color_yellow", "digits-class_3")
    label_mode: str = param(
        "targeted", "Labels of the poisoned images: the donor class, a random other class, or unchanged "
        "(keep never forgets a class; it suits concept forgetting)", choices=LABEL_MODES,
        paper="targeted and random",
    )
    paste: str = param(
        "concept", "Paste the donor concept where the target concept is, or leave the images unchanged",
        choices=("concept", "none"), paper="localized patch (and none as an ablation)",
    )
    retain: str = param("full", "Retain data used: all of D_r or half of each class", choices=("full", "half"),
                        paper="full and half")
    donor_class: int = param(-1, "Donor class (-1: chosen from the IG concept matrix)", min=-1, max=100000)
    donor_concept: str = param("", "Donor concept, e.g. color=red (empty: the donor class's strongest value)")
    epochs: int = epochs_param(5, "the poisoned images and the retain data (head only)", paper="20-30")
    lr: float = lr_param(0.01, "SGD, momentum 0.9, cosine schedule", paper="1e-3")
    batch_size: int = batch_size_param(32, paper="32")
    ig_baseline: str = param("mean", "IG baseline of the concept matrix: mean margins or zero", choices=BASELINES,
                             paper="not stated (0 assumed)")
    max_images: int = param(3000, "Train images used for concept inference", min=50, max=1_000_000)
    min_probe_accuracy: float = param(
        0.7, "Concepts whose probe's held-out accuracy is below this are not used to pick target / donor "
        "(chance is 0.5)", min=0.5, max=1.0,
    )

    def resolved_defaults(self, forget: ForgetSet, meta: ModelMeta) -> dict[str, Any]:
        """The donor class and concept when left at -1 / empty: chosen by the run from the trained model
        (`plan_poisoning`), so they are described, not computed, here."""
        resolved: dict[str, Any] = {}
        if self.donor_class < 0:
            resolved["donor_class"] = ("chosen at run time: the class sharing the target's top concepts (IG "
                                       "concept matrix), or the one the model confuses the forget images with")
        if not self.donor_concept:
            resolved["donor_concept"] = "chosen at run time: the donor class's strongest value"
        return resolved


@register_method(
    title="Concept inference + poisoning",
    paper="Chang et al., Class Machine Unlearning for Complex Data via Concepts Inference and Data Poisoning, "
    "arXiv 2405.15662",
    touches="classification head only (backbone frozen); reads D_f and D_r",
    forget_kinds=("class", "concept"),
)
def concept_poisoning(
    model: SplitClassifier, data: UnlearnData, config: ConceptPoisoningConfig, ctx: RunContext
) -> UnlearnResult:
    """Infer the target's concepts, paste a donor class's concept onto the target's images, relabel them,
    and fine-tune the head on them with the retain data."""
    dataset, forget = data.dataset, data.forget
    start = time.perf_counter()
    ctx.report(0, 1, "concept inference: features")
    train_features = extract_features(model, dataset.train.x, device=ctx.device)  # [N, D]
    inference = None
    if dataset.concepts:
        ctx.report(0, 1, "concept inference: probes, bottleneck, IG")
        inference = infer_concepts(
            model, dataset, device=ctx.device, seed=ctx.seed, train_features=train_features,
            max_images=config.max_images, baseline=config.ig_baseline,
        )
    plan = plan_poisoning(
        model, dataset, forget, device=ctx.device, inference=inference,
        donor_class=config.donor_class, donor_concept=config.donor_concept,
        min_probe_accuracy=config.min_probe_accuracy,
    )
    inference_s = time.perf_counter() - start
    check_stop(ctx.should_stop)

    f_idx = forget.forget_idx
    x_before = dataset.train.x[torch.as_tensor(f_idx)]
    if config.paste == "concept" and plan.can_paste:
        x_after = paste_concept(dataset, f_idx, plan.donor_concept or "", seed=ctx.seed)
        poison_features = extract_features(model, x_after, device=ctx.device)
    else:
        x_after = x_before
        poison_features = train_features[torch.as_tensor(f_idx)]
    y_poison = poison_labels(data.y_forget, plan, config.label_mode, dataset.num_classes, seed=ctx.seed)

    r_idx = forget.retain_idx
    if config.retain == "half":
        r_idx = sample_per_class(r_idx, dataset.train.y[torch.as_tensor(r_idx)].numpy(), _half, ctx.seed)
    r = torch.as_tensor(r_idx)
    feats = torch.cat([train_features[r], poison_features])
    labels = torch.cat([dataset.train.y[r], y_poison])

    # The frozen backbone in eval mode maps each image to fixed features, so the head trains on them.
    head_only = head_on_features(model)
    tune_start = time.perf_counter()
    run_fit(head_only, Batches(feats, labels, batch_size=config.batch_size), train_config(config, ctx, weight_decay=0.0),
            ctx, label="poisoned head fine-tune", trainable=lambda n: n.startswith("head."), eval_mode=True)
    finetune_s = time.perf_counter() - tune_start

    preview = np.random.default_rng(ctx.seed).choice(len(f_idx), min(N_PREVIEW, len(f_idx)), replace=False)
    names = dataset.class_names
    artifacts = {
        "target_classes": [names[c] for c in plan.target_classes],
        "target_concept": plan.target_concept,
        "donor_class": names[plan.donor_class],
        "donor_class_index": plan.donor_class,
        "donor_concept": plan.donor_concept if config.paste == "concept" and plan.can_paste else None,
        "notes": plan.notes,
        "n_poisoned": len(f_idx),
        "n_retain_used": len(r_idx),
        "poisoned_before": x_before[torch.as_tensor(preview)].numpy(),
        "poisoned_after": x_after[torch.as_tensor(preview)].numpy(),
        "poisoned_labels": [names[int(c)] for c in y_poison[torch.as_tensor(preview)]],
        "inference_time_s": inference_s,
        "finetune_time_s": finetune_s,
    }
    if inference is not None:
        artifacts.update({
            "concept_matrix": inference.attribution.matrix,
            "concept_names": inference.attribution.concept_names,
            "probe_accuracy": inference.bank.accuracy,
            "random_probe_accuracy": inference.bank.control_accuracy,
        })
    return UnlearnResult(model, artifacts=artifacts)
