"""Concept inference and data poisoning for unlearning (Chang et al., arXiv 2405.15662).

Pieces used by the ``concept_poisoning`` method and by evaluation code:

- `infer_concepts`: concept bank (CAVs) -> post-hoc bottleneck -> IG class x concept matrix, on
  the train split only (a method may not read the test set).
- `plan_poisoning`: from that matrix, the target concept of the forget set, a donor class (the
  class sharing the target's top concepts) and a donor concept (the donor class's strongest value
  of the same attribute, e.g. star's ``color=yellow`` -> circle's ``color=red``). Datasets without
  concept labels get a donor class from the model's own confusions and no pasting.
- `paste_concept` / `poison_labels`: the poisoned forget images (the donor concept pasted where the
  target concept is: on shapes, the object re-drawn in the donor colour) and their new labels.
- `forgetting_rate` (the paper's Fr) and `shared_concept_accuracy` for evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from unlearn_core.concepts.attribution import ConceptAttribution, concept_attributions
from unlearn_core.concepts.bank import ConceptBank, bank_from_dataset
from unlearn_core.concepts.bottleneck import ConceptBottleneck, fit_bottleneck
from unlearn_core.data import Split, SplitDataset
from unlearn_core.forget import ForgetSet
from unlearn_core.sampling import sample_at_most
from unlearn_core.train import extract_features, predict_logits

LABEL_MODES = ("targeted", "random", "keep")

# dataset name -> (attributes that can be re-drawn, painter(split, indices, attribute, value, seed) -> images)
Painter = Callable[[Split, np.ndarray, str, str, int], torch.Tensor]


def _paint_shapes(split: Split, indices: np.ndarray, attribute: str, value: str, seed: int) -> torch.Tensor:
    from unlearn_core.data.shapes import rerender

    return rerender(split, indices, seed=seed, **{attribute: value})


PAINTERS: dict[str, tuple[tuple[str, ...], Painter]] = {
    "shapes": (("color", "pattern", "background"), _paint_shapes),
}


def pasteable_attributes(dataset: SplitDataset) -> tuple[str, ...]:
    """Concept attributes whose value can be re-drawn in `dataset`'s images (empty if none)."""
    return PAINTERS.get(dataset.name, ((), None))[0]  # type: ignore[return-value]


def paste_concept(dataset: SplitDataset, indices: np.ndarray, concept: str, *, seed: int = 0) -> torch.Tensor:
    """Train images at `indices` re-drawn with `concept` (``attribute=value``) in place of their own."""
    attribute, _, value = concept.partition("=")
    if attribute not in pasteable_attributes(dataset):
        raise ValueError(
            f"cannot paste {concept!r} into {dataset.name!r} images; re-drawable attributes: "
            f"{', '.join(pasteable_attributes(dataset)) or 'none'}"
        )
    painter = PAINTERS[dataset.name][1]
    return painter(dataset.train, np.asarray(indices, dtype=np.int64), attribute, value, seed)


@dataclass
class ConceptInference:
    """The concept pipeline's outputs on the train split."""

    bank: ConceptBank
    bottleneck: ConceptBottleneck
    attribution: ConceptAttribution


def infer_concepts(
    model: nn.Module,
    dataset: SplitDataset,
    *,
    device: torch.device,
    seed: int = 0,
    train_features: torch.Tensor | None = None,
    max_images: int = 3000,
    max_per_concept: int = 500,
    baseline: str = "mean",
    n_steps: int = 32,
) -> ConceptInference:
    """Bank, bottleneck and IG matrix from a seeded sample of the train split (never the test split)."""
    if train_features is None:
        train_features = extract_features(model, dataset.train.x, device=device)
    idx = sample_at_most(np.arange(len(dataset.train)), max_images, seed)
    bank = bank_from_dataset(
        model, dataset, device=device, seed=seed, max_per_concept=max_per_concept, max_images=max_images,
        indices=idx, train_features=train_features, n_controls=1,
    )
    t = torch.as_tensor(idx)
    feats, labels = train_features[t], dataset.train.y[t]
    pcbm = fit_bottleneck(bank, feats, labels, dataset.class_names, seed=seed)
    attribution = concept_attributions(pcbm, pcbm.margins(feats), labels, baseline=baseline, n_steps=n_steps)
    return ConceptInference(bank, pcbm, attribution)


@dataclass
class PoisonPlan:
    """What to paste where and which labels to use; `notes` say how each choice was made."""

    target_classes: tuple[int, ...]
    target_concept: str | None
    donor_class: int
    donor_concept: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def can_paste(self) -> bool:
        return self.target_concept is not None and self.donor_concept is not None


def _attribute(concept: str) -> str:
    return concept.partition("=")[0]


def _donor_concept(
    attr: ConceptAttribution, donor: int, attribute: str, exclude: str, reliable: np.ndarray
) -> str | None:
    """The donor class's most attributed value of `attribute`, other than `exclude` (reliable ones first)."""
    row = attr.matrix[donor]
    options = [j for j, n in enumerate(attr.concept_names) if _attribute(n) == attribute and n != exclude]
    options = [j for j in options if reliable[j]] or options
    if not options:
        return None
    return attr.concept_names[max(options, key=lambda j: row[j])]


def _confusion_donor(model: nn.Module, x: torch.Tensor, exclude: set[int], device: torch.device) -> int:
    """The class the model leans to most on `x` besides the excluded ones (mean softmax)."""
    probs = predict_logits(model, x, device=device).softmax(1).mean(0)
    probs[list(exclude)] = -1.0
    return int(probs.argmax())


def plan_poisoning(
    model: nn.Module,
    dataset: SplitDataset,
    forget: ForgetSet,
    *,
    device: torch.device,
    inference: ConceptInference | None,
    donor_class: int = -1,
    donor_concept: str = "",
    min_probe_accuracy: float = 0.7,
) -> PoisonPlan:
    """Choose the target concept, donor class and donor concept for `forget` (class or concept kind).

    Class forget sets: the target concept is the forgotten class's top-attributed concept among
    the re-drawable attributes; the donor class is `ConceptAttribution.suggest_donor`'s choice
    (never a forgotten class). Concept forget sets: the target concept is the spec's concept; the
    donor class is the donor of the class that concept is most attributed to. Explicit
    `donor_class` (>= 0) / `donor_concept` override the choices. Concepts whose probe's held-out
    accuracy is below `min_probe_accuracy` (the model does not encode them) are not used for the
    choices. Without `inference` (no concept labels) the donor class is the one the model confuses
    the forget images with most.
    """
    notes: list[str] = []
    num_classes = dataset.num_classes
    if forget.category == "class":
        targets = tuple(forget.forget_classes)
    elif forget.category == "concept":
        targets = ()
    else:
        raise ValueError(f"concept poisoning needs a class or concept forget set; got {forget.spec!r}")
    if donor_class >= num_classes:
        raise ValueError(f"donor_class {donor_class} does not exist; classes are 0..{num_classes - 1}")
    if donor_class in targets:
        raise ValueError(f"donor_class {donor_class} is being forgotten; pick another class")
    target_concept: str | None = None
    pasteable = pasteable_attributes(dataset)
    if forget.category == "concept":
        target_concept = forget.spec.partition(":")[2]
    if inference is None:
        if forget.category == "concept":
            raise ValueError("concept forgetting needs concept labels or a concept bank")
        donor = donor_class if donor_class >= 0 else _confusion_donor(
            model, dataset.train.x[torch.as_tensor(forget.forget_idx[:512])], set(targets), device
        )
        notes.append(f"no concept labels: donor class {dataset.class_names[donor]} is the one the model confuses "
                     "the forget images with most; images stay unchanged")
        return PoisonPlan(targets, None, donor, None, notes)
    attr = inference.attribution
    reliable = inference.bank.accuracy >= min_probe_accuracy  # [K]
    weak = [n for n, ok in zip(attr.concept_names, reliable, strict=True) if not ok]
    if weak:
        notes.append(f"ignored weak concepts (probe accuracy < {min_probe_accuracy}): {', '.join(weak)}")
    if forget.category == "concept":
        if target_concept not in attr.concept_names:
            raise ValueError(f"concept {target_concept!r} has no probe in the bank")
        anchor = int(np.argmax(attr.matrix[:, attr.concept_names.index(target_concept)]))
        notes.append(f"{target_concept} is most attributed to class {dataset.class_names[anchor]}")
    else:
        anchor = targets[0]
        ranked = attr.top_concepts(anchor, k=len(attr.concept_names), positive_only=False, allowed=reliable)
        candidates = [n for n, _ in ranked if _attribute(n) in pasteable] or [n for n, _ in ranked]
        target_concept = candidates[0] if candidates else None
        notes.append(f"top concepts of {dataset.class_names[anchor]}: "
                     + ", ".join(f"{n} ({v:+.2f})" for n, v in attr.top_concepts(anchor, 3, allowed=reliable)))
    if donor_class >= 0:
        donor = donor_class
        notes.append(f"donor class {dataset.class_names[donor]} chosen by the user")
    else:
        suggestion = attr.suggest_donor(anchor, allowed=reliable)
        scores = suggestion.scores.copy()
        scores[list(targets)] = -np.inf
        donor = int(np.argmax(scores))
        shared = [n for n in suggestion.shared] if donor == suggestion.donor else []
        notes.append(f"donor class {dataset.class_names[donor]}"
                     + (f" shares {', '.join(shared)}" if shared else " has the closest concept profile"))
    if donor_concept:
        if donor_concept not in attr.concept_names:
            raise ValueError(f"donor concept {donor_concept!r} is not in the bank; concepts: {', '.join(attr.concept_names)}")
        chosen: str | None = donor_concept
    elif target_concept is not None:
        chosen = _donor_concept(attr, donor, _attribute(target_concept), target_concept, reliable)
    else:
        chosen = None
    if target_concept is not None and _attribute(target_concept) not in pasteable:
        notes.append(f"{_attribute(target_concept)} cannot be re-drawn in {dataset.name} images: images stay unchanged")
        chosen = None
    elif chosen is not None and _attribute(chosen) != _attribute(target_concept or ""):
        raise ValueError(f"donor concept {chosen!r} must be a value of the target's attribute {_attribute(target_concept or '')!r}")
    return PoisonPlan(targets, target_concept, donor, chosen, notes)


def poison_labels(
    y: torch.Tensor, plan: PoisonPlan, mode: str, num_classes: int, *, seed: int = 0
) -> torch.Tensor:
    """New labels for forget samples with labels `y`: ``targeted`` (donor class), ``random`` (a
    uniformly random class other than the sample's own and the forgotten ones) or ``keep``."""
    if mode not in LABEL_MODES:
        raise ValueError(f"label mode must be one of {', '.join(LABEL_MODES)}; got {mode!r}")
    if mode == "keep":
        return y.clone()
    if mode == "targeted":
        return torch.full_like(y, plan.donor_class)
    rng = np.random.default_rng(seed)
    out = y.numpy().copy()
    for i, own in enumerate(out):
        allowed = [c for c in range(num_classes) if c != own and c not in plan.target_classes]
        out[i] = rng.choice(allowed)
    return torch.as_tensor(out, dtype=y.dtype)


def forgetting_rate(
    original_member: np.ndarray,
    original_nonmember: np.ndarray,
    unlearned_member: np.ndarray,
    *,
    seed: int = 0,
) -> float:
    """The concept paper's Fr: share of the target class's train samples judged non-members.

    A linear SVM (standardised inputs) learns members (the original model's softmax vectors on
    the target class's train images) against non-members (its softmax vectors on the target
    class's test images), balanced by subsampling; it is then applied to the unlearned model's
    softmax vectors on the train images. 1.0 = every forgotten sample looks unseen.
    """
    rng = np.random.default_rng(seed)
    n = min(len(original_member), len(original_nonmember))
    if n < 2:
        raise ValueError("forgetting rate needs at least 2 member and 2 non-member samples")
    mem = original_member[rng.choice(len(original_member), n, replace=False)]
    non = original_nonmember[rng.choice(len(original_nonmember), n, replace=False)]
    x = np.concatenate([mem, non])
    y = np.concatenate([np.ones(n), np.zeros(n)])
    from sklearn.preprocessing import StandardScaler  # scikit-learn only when the attack is fitted
    from sklearn.svm import SVC

    scaler = StandardScaler().fit(x)
    attack = SVC(kernel="linear").fit(scaler.transform(x), y)
    return float((attack.predict(scaler.transform(unlearned_member)) == 0).mean())


def forgetting_rate_for_models(
    original: nn.Module,
    unlearned: nn.Module,
    x_member: torch.Tensor,
    x_nonmember: torch.Tensor,
    *,
    device: torch.device,
    seed: int = 0,
) -> float:
    """`forgetting_rate` from the models and the target class's train (`x_member`) / test images."""
    def probs(m: nn.Module, x: torch.Tensor) -> np.ndarray:
        return predict_logits(m, x, device=device).softmax(1).numpy()

    return forgetting_rate(probs(original, x_member), probs(original, x_nonmember), probs(unlearned, x_member), seed=seed)


def shared_concept_accuracy(
    model: nn.Module, dataset: SplitDataset, concept: str, exclude_classes: tuple[int, ...], *, device: torch.device
) -> float:
    """Test accuracy on images carrying `concept` outside `exclude_classes` (e.g. yellow non-stars):
    whether forgetting a class also damaged the concept it leaned on. NaN when there are none."""
    attribute, _, value = concept.partition("=")
    if attribute not in dataset.concepts or value not in dataset.concepts[attribute]:
        raise ValueError(f"unknown concept {concept!r} for {dataset.name}")
    code = dataset.concepts[attribute].index(value)
    test = dataset.test
    sel = (test.meta[attribute] == code) & ~np.isin(test.y.numpy(), exclude_classes)
    idx = np.flatnonzero(sel)
    if len(idx) == 0:
        return float("nan")
    logits = predict_logits(model, test.x[torch.as_tensor(idx)], device=device)
    return float((logits.argmax(1) == test.y[torch.as_tensor(idx)]).float().mean())
