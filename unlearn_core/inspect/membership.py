"""A membership attack you can steer: one threshold over a per-sample score, forget samples
(claimed members) against test samples (non-members), for each model.

Scores (per sample, from the model's logits):

- ``scaled_confidence``: log(p_y / (1 - p_y)) of the true label's probability p_y, the statistic
  of LiRA (Carlini et al. 2022, "Membership Inference Attacks From First Principles", IEEE S&P)
  and of the NeurIPS 2023 unlearning competition's per-example epsilon (Triantafillou et al.
  2024, arXiv 2406.09073). Computed stably from the logits as z_y - logsumexp_{k != y} z_k;
  member when at least the threshold;
- ``entropy``: the prediction's Shannon entropy -sum_k p_k ln p_k (nats), the label-free
  threshold attack of Salem et al. 2019 ("ML-Leaks", NDSS) and Song & Mittal 2021 ("Systematic
  Evaluation of Privacy Risks of Machine Learning Models", USENIX Security); member when at most
  the threshold (a model is surer of what it trained on);
- ``confidence`` (p_y) and ``loss`` (-ln p_y), kept for the CLI and older callers.

confidence, loss and scaled confidence are one attack: each is a monotone function of p_y, so
they rank samples alike and every threshold of one is a threshold of the others (same TPR / FPR
curve). The scaled confidence is the one offered because its scale resolves the region near
p_y = 1 where members crowd (0.999 and 0.99999 are 6.9 and 11.5). The entropy is a different
attack: it ignores the label, so a sample predicted confidently *wrong* is a member to it and a
non-member to the others (`membership` offers these two: `OFFERED`).

At a threshold:

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

from unlearn_core.metrics import per_sample_loss, scaled_confidence, true_label_confidence

SCORES = ("confidence", "loss", "scaled_confidence", "entropy")
OFFERED = ("scaled_confidence", "entropy")  # two different attacks (see the module docstring)
MEMBER_IF_HIGH = frozenset({"confidence", "scaled_confidence"})  # the others: member if low
LABELS = {"confidence": "confidence in the true label", "loss": "loss (cross-entropy)",
          "scaled_confidence": "scaled confidence log(p / (1 - p))", "entropy": "prediction entropy (nats)"}


def prediction_entropy(logits: torch.Tensor) -> np.ndarray:
    """Shannon entropy of each prediction in nats (Salem et al. 2019; Song & Mittal 2021), float64 [N]."""
    logp = torch.log_softmax(logits.detach().double().cpu(), 1)
    return -(logp.exp() * logp).nan_to_num().sum(1).numpy()


@dataclass
class SampleScores:
    """One model's per-sample figures on the inspection sample (float64 arrays). The scaled
    confidences are derived from the confidences when not given; the entropies stay None unless
    given (they need the logits: `sample_scores` fills everything)."""

    forget_confidence: np.ndarray
    forget_loss: np.ndarray
    forget_pred: np.ndarray
    nonmember_confidence: np.ndarray
    nonmember_loss: np.ndarray
    forget_scaled: np.ndarray | None = None
    nonmember_scaled: np.ndarray | None = None
    forget_entropy: np.ndarray | None = None
    nonmember_entropy: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.forget_scaled is None:
            self.forget_scaled = _logit(self.forget_confidence)
        if self.nonmember_scaled is None:
            self.nonmember_scaled = _logit(self.nonmember_confidence)

    def forget(self, score: str) -> np.ndarray:
        """The forget samples' values of `score` (one of `SCORES`)."""
        return self._side(score, "forget")

    def nonmember(self, score: str) -> np.ndarray:
        """The non-member test samples' values of `score` (one of `SCORES`)."""
        return self._side(score, "nonmember")

    def _side(self, score: str, side: str) -> np.ndarray:
        field = {"confidence": "confidence", "loss": "loss", "scaled_confidence": "scaled",
                 "entropy": "entropy"}[_check(score)]
        values = getattr(self, f"{side}_{field}")
        if values is None:
            raise ValueError(f"these scores were built without the {score} (use sample_scores on the logits)")
        return values


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def _check(score: str) -> str:
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}; got {score!r}")
    return score


def sample_scores(forget_logits: torch.Tensor, forget_y: torch.Tensor, nonmember_logits: torch.Tensor,
                  nonmember_y: torch.Tensor) -> SampleScores:
    """Every score and the predictions of one model from its logits on the two sides."""
    return SampleScores(
        true_label_confidence(forget_logits, forget_y), per_sample_loss(forget_logits, forget_y),
        forget_logits.argmax(1).numpy(),
        true_label_confidence(nonmember_logits, nonmember_y), per_sample_loss(nonmember_logits, nonmember_y),
        forget_scaled=scaled_confidence(forget_logits, forget_y),
        nonmember_scaled=scaled_confidence(nonmember_logits, nonmember_y),
        forget_entropy=prediction_entropy(forget_logits), nonmember_entropy=prediction_entropy(nonmember_logits),
    )


def called_member(values: np.ndarray, threshold: float, score: str) -> np.ndarray:
    """Boolean [N]: which samples the attack calls members at `threshold`."""
    return values >= threshold if _check(score) in MEMBER_IF_HIGH else values <= threshold


def attack_at(scores: SampleScores, threshold: float, score: str = "confidence") -> dict[str, float]:
    """``accuracy`` (balanced), ``tpr`` and ``fpr`` of the threshold attack; NaN for an empty side."""
    forget = called_member(scores.forget(score), threshold, score)
    test = called_member(scores.nonmember(score), threshold, score)
    tpr = float(forget.mean()) if len(forget) else float("nan")
    fpr = float(test.mean()) if len(test) else float("nan")
    return {"accuracy": (tpr + 1.0 - fpr) / 2.0, "tpr": tpr, "fpr": fpr}


def best_attack(scores: SampleScores, score: str) -> dict[str, float]:
    """The threshold attack on `score` at its best threshold (the highest balanced accuracy over
    every observed value; the attack of an adversary who knows both sides, an upper bound):
    ``threshold`` and `attack_at`'s figures there. NaN figures when a side is empty."""
    forget, nonmember = scores.forget(score), scores.nonmember(score)
    candidates = np.unique(np.concatenate([forget, nonmember]))
    candidates = candidates[np.isfinite(candidates)]
    if not len(forget) or not len(nonmember) or not len(candidates):
        return {"threshold": float("nan"), "accuracy": float("nan"), "tpr": float("nan"), "fpr": float("nan")}
    best = max(candidates, key=lambda t: attack_at(scores, float(t), score)["accuracy"])
    return {"threshold": float(best), **attack_at(scores, float(best), score)}


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
