"""A membership attack you can steer: one threshold over a per-sample score, forget samples
(claimed members) against test samples (non-members), for each model.

Scores come from `metrics.mia` (`true_label_confidence`, `per_sample_loss`): the attack calls a
sample a member when its true-label confidence is at least the threshold (``confidence``), or
when its loss is at most the threshold (``loss``). At a threshold:

- TPR: share of forget samples called members; FPR: share of test samples called members;
- accuracy: balanced accuracy (TPR + 1 - FPR) / 2, so forget and test weigh the same whatever
  their sizes (0.5 = the attack cannot tell them apart).

After good unlearning the forget samples look like unseen test samples: the unlearned model's
figures should be close to the retrained model's at every threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..metrics import per_sample_loss, true_label_confidence

SCORES = ("confidence", "loss")


@dataclass
class SampleScores:
    """One model's per-sample figures on the inspection sample (float64 arrays)."""

    forget_confidence: np.ndarray
    forget_loss: np.ndarray
    forget_pred: np.ndarray
    nonmember_confidence: np.ndarray
    nonmember_loss: np.ndarray

    def forget(self, score: str) -> np.ndarray:
        return self.forget_confidence if _check(score) == "confidence" else self.forget_loss

    def nonmember(self, score: str) -> np.ndarray:
        return self.nonmember_confidence if _check(score) == "confidence" else self.nonmember_loss


def _check(score: str) -> str:
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}; got {score!r}")
    return score


def sample_scores(forget_logits: torch.Tensor, forget_y: torch.Tensor, nonmember_logits: torch.Tensor,
                  nonmember_y: torch.Tensor) -> SampleScores:
    """Confidences, losses and predictions of one model from its logits on the two sides."""
    return SampleScores(
        true_label_confidence(forget_logits, forget_y), per_sample_loss(forget_logits, forget_y),
        forget_logits.argmax(1).numpy(),
        true_label_confidence(nonmember_logits, nonmember_y), per_sample_loss(nonmember_logits, nonmember_y),
    )


def called_member(values: np.ndarray, threshold: float, score: str) -> np.ndarray:
    """Boolean [N]: which samples the attack calls members at `threshold`."""
    return values >= threshold if _check(score) == "confidence" else values <= threshold


def attack_at(scores: SampleScores, threshold: float, score: str = "confidence") -> dict[str, float]:
    """``accuracy`` (balanced), ``tpr`` and ``fpr`` of the threshold attack; NaN for an empty side."""
    forget = called_member(scores.forget(score), threshold, score)
    test = called_member(scores.nonmember(score), threshold, score)
    tpr = float(forget.mean()) if len(forget) else float("nan")
    fpr = float(test.mean()) if len(test) else float("nan")
    return {"accuracy": (tpr + 1.0 - fpr) / 2.0, "tpr": tpr, "fpr": fpr}


def nearest_to_threshold(values: np.ndarray, threshold: float, k: int = 8) -> np.ndarray:
    """Positions of the `k` samples whose score is closest to `threshold` (closest first): the
    ones a small move of the slider flips."""
    order = np.argsort(np.abs(np.asarray(values, dtype=np.float64) - threshold), kind="stable")
    return order[: max(0, k)]


def membership_score(loss: np.ndarray, reference_loss: np.ndarray) -> np.ndarray:
    """Per sample, the share of reference (unseen test) samples with a higher loss, in [0, 1]:
    0.5 is a typical unseen sample, near 1 a sample the model fits better than almost any
    unseen one (a likely member). NaN without reference samples."""
    ref = np.sort(np.asarray(reference_loss, dtype=np.float64))
    if len(ref) == 0:
        return np.full(len(loss), np.nan)
    return 1.0 - np.searchsorted(ref, np.asarray(loss, dtype=np.float64), side="right") / len(ref)
