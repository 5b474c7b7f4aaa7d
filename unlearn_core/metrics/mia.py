"""Membership-inference attacks used to judge forgetting.

- `mia_efficacy` / `svc_mia`: SalUn's MIA-efficacy (Fan et al. 2024, after Jia et al. 2023,
  code `evaluation/SVC_MIA.py`). Feature: the confidence of the true label, p_y(x). An RBF SVC
  (C=3, gamma='auto', as in SalUn) learns retain samples as members (1) and test samples as
  non-members (0); the score is the share of the forget set predicted non-member. Higher means
  "looks unseen"; the target is the retrained model's value, not 1.
  Deviation: SalUn uses the first |D_t| retain samples; here both sides are a seeded random
  sample of equal size (at most `max_per_side` each), so the attack is balanced and fast.
  Its accuracy on those samples is reported too (`mia_attack_acc`): near 50% the attack is at
  chance and MIA-efficacy is noise (`at_chance`).
- `loss_threshold_mia`: a threshold attack on per-sample cross-entropy (members have low loss),
  summarised by its ROC AUC and its best balanced accuracy. 0.5 = members indistinguishable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

MAX_PER_SIDE = 2000


def true_label_confidence(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Softmax probability of the true class, p_y(x), per sample: float64 array [N]."""
    if len(logits) != len(y):
        raise ValueError(f"{len(logits)} logits but {len(y)} labels")
    probs = F.softmax(logits.double(), dim=1)  # [N, K]
    return probs.gather(1, y.long().view(-1, 1)).squeeze(1).numpy()


def scaled_confidence(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """LiRA's scaled confidence log(p_y / (1 - p_y)) per sample (Carlini et al. 2022), float64 [N]:
    z_y - logsumexp_{k != y} z_k of the logits z, finite even where p_y rounds to 1. The per-example
    statistic of the seed study's ε (`metrics.epsilon`) and a membership view score (`inspect`)."""
    if len(logits) != len(y):
        raise ValueError(f"{len(logits)} logits but {len(y)} labels")
    z = logits.detach().double().cpu()
    idx = y.long().cpu().view(-1, 1)
    others = z.scatter(1, idx, float("-inf"))
    return (z.gather(1, idx).squeeze(1) - torch.logsumexp(others, dim=1)).numpy()


def per_sample_loss(logits: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Cross-entropy of each sample (natural log): float64 array [N]."""
    if len(logits) != len(y):
        raise ValueError(f"{len(logits)} logits but {len(y)} labels")
    return F.cross_entropy(logits.double(), y.long(), reduction="none").numpy()


@dataclass
class MIAResult:
    """The SVC attack's verdict on the forget set.

    `efficacy`: share of forget samples predicted non-member (SalUn's MIA-efficacy).
    `forget_member_prob`: the attack's membership probability per forget sample (Platt scaling
    of the SVC decision value, fitted on the attack's training data; for histograms).
    `n_per_side`: members and non-members the attack was trained on (each).
    `attack_acc`: the attack's accuracy on those balanced samples, the ones it was fitted on (an
    upper bound on how well it tells members from non-members). Near 0.5 it cannot tell them
    apart, and `efficacy` then depends on where an arbitrary boundary falls (see `at_chance`).
    """

    efficacy: float
    forget_member_prob: np.ndarray
    n_per_side: int
    attack_acc: float = float("nan")


CHANCE_MARGIN = 0.05  # an attack within 5 points of 50% on its own training samples is at chance


def at_chance(attack_acc: float | None) -> bool:
    """Whether an SVC attack with this accuracy on its own balanced training samples is at chance
    (within `CHANCE_MARGIN` of 0.5): its MIA-efficacy then says nothing about forgetting.

    Why: on near-perfect models every confidence is about 1, members and non-members look alike,
    and the SVC's verdict on the forget set flips between runs (measured on shapes ``random:0.1``:
    the same retraining recipe gave MIA-efficacy 2.7%, 1.3% and 95.7% on three seeds).
    """
    return attack_acc is not None and not np.isnan(attack_acc) and attack_acc < 0.5 + CHANCE_MARGIN


def _as_feature(values: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    arr = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be [N] or [N, D]; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def svc_mia(
    conf_retain: np.ndarray | torch.Tensor,
    conf_test: np.ndarray | torch.Tensor,
    conf_forget: np.ndarray | torch.Tensor,
    seed: int = 0,
    max_per_side: int = MAX_PER_SIDE,
) -> MIAResult:
    """SalUn's SVC attack on confidences ([N] or [N, D] features); see the module docstring."""
    from sklearn.linear_model import LogisticRegression  # here: scikit-learn takes a second to import
    from sklearn.svm import SVC

    members = _as_feature(conf_retain, "conf_retain")
    nonmembers = _as_feature(conf_test, "conf_test")
    forget = _as_feature(conf_forget, "conf_forget")
    if len(members) == 0 or len(nonmembers) == 0:
        raise ValueError(f"the attack needs members and non-members; got {len(members)} and {len(nonmembers)}")
    if max_per_side < 1:
        raise ValueError(f"max_per_side must be >= 1; got {max_per_side}")
    n = min(len(members), len(nonmembers), max_per_side)
    rng = np.random.default_rng(seed)
    members = members[np.sort(rng.choice(len(members), size=n, replace=False))]
    nonmembers = nonmembers[np.sort(rng.choice(len(nonmembers), size=n, replace=False))]
    x = np.concatenate([members, nonmembers])
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(x, labels)
    attack_acc = float(np.mean(clf.predict(x) == labels))
    if len(forget) == 0:
        return MIAResult(float("nan"), np.empty(0), n, attack_acc)
    # Platt scaling on the training decision values: a probability for plots, monotone in the SVC score
    platt = LogisticRegression().fit(clf.decision_function(x)[:, None], labels)
    prob = platt.predict_proba(clf.decision_function(forget)[:, None])[:, 1]
    efficacy = float(np.mean(clf.predict(forget) == 0))
    return MIAResult(efficacy, prob, n, attack_acc)


def mia_efficacy(
    conf_retain: np.ndarray | torch.Tensor,
    conf_test: np.ndarray | torch.Tensor,
    conf_forget: np.ndarray | torch.Tensor,
    seed: int = 0,
    max_per_side: int = MAX_PER_SIDE,
) -> float:
    """SalUn's MIA-efficacy in [0, 1]: share of forget samples the SVC attack calls non-member.

    The attack is trained on a balanced, seeded sample of retain confidences (members) and test
    confidences (non-members), at most `max_per_side` each. NaN for an empty forget set.
    """
    return svc_mia(conf_retain, conf_test, conf_forget, seed, max_per_side).efficacy


def loss_threshold_mia(
    loss_members: np.ndarray | torch.Tensor, loss_nonmembers: np.ndarray | torch.Tensor
) -> dict[str, float]:
    """Threshold attack on per-sample losses (low loss = member).

    Returns ``auc`` (ROC AUC of -loss as a membership score; 0.5 = indistinguishable) and
    ``best_threshold_acc`` (best balanced accuracy, (TPR + TNR) / 2, over all thresholds).
    """
    members = _as_feature(loss_members, "loss_members")[:, 0]
    nonmembers = _as_feature(loss_nonmembers, "loss_nonmembers")[:, 0]
    if len(members) == 0 or len(nonmembers) == 0:
        raise ValueError(f"the attack needs members and non-members; got {len(members)} and {len(nonmembers)}")
    labels = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    score = -np.concatenate([members, nonmembers])
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(labels, score)
    return {
        "auc": float(roc_auc_score(labels, score)),
        "best_threshold_acc": float(0.5 + np.max(tpr - fpr) / 2),
    }
