"""Concept bank: one concept activation vector (CAV) per concept, from linear probes.

A CAV is the normal of a logistic-regression probe on the model's penultimate features
(`model.features(x)`), trained on images with a concept (e.g. ``color=yellow``) against images
without it, with the same number of each. Every probe reports its accuracy on a seeded held-out
part (chance is 0.5), and the bank carries probes trained on *random* labels as a control: a
concept whose probe is not clearly above the control is not encoded by the model.

Two sources: the concept metadata of a dataset (`bank_from_dataset`, e.g. the built-in shapes),
or folders of example images (`bank_from_folders`: one folder per concept plus a negatives
folder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from unlearn_core.data import SplitDataset
from unlearn_core.sampling import sample_at_most
from unlearn_core.train import extract_features

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MIN_IMAGES = 4  # per side of a probe: fewer leave nothing to hold out


@dataclass
class ConceptBank:
    """CAVs `vectors` [K, D] with `biases` [K] in the model's feature space, one per concept name.

    `accuracy` [K] is each probe's held-out accuracy, `n_examples` [K] the positives it used (as
    many negatives); `control_accuracy` lists the held-out accuracies of probes on random labels.
    """

    names: list[str]
    vectors: np.ndarray
    biases: np.ndarray
    accuracy: np.ndarray
    n_examples: np.ndarray
    control_accuracy: list[float] = field(default_factory=list)
    seed: int = 0

    def __post_init__(self) -> None:
        k = len(self.names)
        if self.vectors.ndim != 2 or len(self.vectors) != k or len(self.biases) != k:
            raise ValueError(f"{k} concept names but vectors {self.vectors.shape} and biases {self.biases.shape}")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def feature_dim(self) -> int:
        return int(self.vectors.shape[1])

    def margin_layer(self) -> nn.Linear:
        """nn.Linear D -> K computing the margins d_k(e) = (c_k·e + b_k) / ‖c_k‖."""
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)  # [K, 1]
        layer = nn.Linear(self.feature_dim, len(self))
        with torch.no_grad():
            layer.weight.copy_(torch.as_tensor(self.vectors / norms, dtype=torch.float32))
            layer.bias.copy_(torch.as_tensor(self.biases / norms[:, 0], dtype=torch.float32))
        return layer.requires_grad_(False)

    def margins(self, features: torch.Tensor) -> torch.Tensor:
        """Signed distances [N, K] of features [N, D] to every probe's decision plane."""
        norms = np.linalg.norm(self.vectors, axis=1)
        v = torch.as_tensor(self.vectors / norms[:, None], dtype=features.dtype)
        b = torch.as_tensor(self.biases / norms, dtype=features.dtype)
        return features @ v.T + b

    def index(self, name: str) -> int:
        """Position of concept `name`; ValueError listing the names otherwise."""
        if name not in self.names:
            raise ValueError(f"concept bank has no concept {name!r}; concepts: {', '.join(self.names)}")
        return self.names.index(name)

    def summary(self) -> list[dict[str, object]]:
        """One row per concept (name, held-out accuracy, examples) plus the random-label control."""
        rows: list[dict[str, object]] = [
            {"concept": n, "heldout_accuracy": float(a), "n_examples": int(m), "control": False}
            for n, a, m in zip(self.names, self.accuracy, self.n_examples, strict=True)
        ]
        if self.control_accuracy:
            rows.append({
                "concept": "random labels (control)", "heldout_accuracy": float(np.mean(self.control_accuracy)),
                "n_examples": int(np.median(self.n_examples)) if len(self.n_examples) else 0, "control": True,
            })
        return rows


def random_bank(k: int, features: torch.Tensor, *, seed: int = 0) -> ConceptBank:
    """The control bank: `k` random unit directions, biased so their margins are centred on `features`."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((k, features.shape[1])).astype(np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    biases = -(features.double().numpy() @ vectors.T).mean(0)
    return ConceptBank(
        [f"random_{i}" for i in range(k)], vectors, biases, np.full(k, np.nan), np.zeros(k, dtype=np.int64), [], seed
    )


def train_probe(
    positives: np.ndarray, negatives: np.ndarray, *, seed: int, max_per_side: int = 500, heldout: float = 0.3
) -> tuple[np.ndarray, float, float, int]:
    """Balanced logistic-regression probe on features [n, D]: (cav [D], bias, held-out acc, n per side).

    The probe is fitted on standardised features and folded back into raw feature space, so the
    CAV applies to `model.features(x)` directly.
    """
    rng = np.random.default_rng(seed)
    n = min(len(positives), len(negatives), max_per_side)
    if n < MIN_IMAGES:
        raise ValueError(f"a probe needs at least {MIN_IMAGES} examples with and without the concept; got {n}")
    pos = positives[rng.choice(len(positives), n, replace=False)]
    neg = negatives[rng.choice(len(negatives), n, replace=False)]
    x = np.concatenate([pos, neg]).astype(np.float64)
    y = np.concatenate([np.ones(n), np.zeros(n)])
    from sklearn.linear_model import LogisticRegression  # scikit-learn only when a probe is trained
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=heldout, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(x_tr)
    clf = LogisticRegression(C=1.0, solver="liblinear", max_iter=1000).fit(scaler.transform(x_tr), y_tr)
    acc = float(clf.score(scaler.transform(x_te), y_te))
    coef = clf.coef_[0] / scaler.scale_  # [D] in raw feature units
    bias = float(clf.intercept_[0] - coef @ scaler.mean_)
    return coef, bias, acc, n


def _bank_from_groups(
    groups: dict[str, tuple[np.ndarray, np.ndarray]], pool: np.ndarray, *, seed: int, max_per_concept: int,
    n_controls: int,
) -> ConceptBank:
    """Probes for {name: (positive features, negative features)} plus random-label controls on `pool`."""
    names, vectors, biases, accs, counts = [], [], [], [], []
    for i, (name, (pos, neg)) in enumerate(groups.items()):
        cav, bias, acc, n = train_probe(pos, neg, seed=seed + i, max_per_side=max_per_concept)
        names.append(name)
        vectors.append(cav)
        biases.append(bias)
        accs.append(acc)
        counts.append(n)
    rng = np.random.default_rng(seed + 10_000)
    controls = []
    n_control = min(int(np.median(counts)), len(pool) // 2)
    for j in range(n_controls):
        chosen = pool[rng.choice(len(pool), 2 * n_control, replace=False)]
        half = rng.permutation(len(chosen)) < n_control  # random labels: half "with", half "without"
        controls.append(train_probe(chosen[half], chosen[~half], seed=seed + 20_000 + j, max_per_side=n_control)[2])
    return ConceptBank(names, np.stack(vectors), np.asarray(biases), np.asarray(accs), np.asarray(counts), controls, seed)


def bank_from_dataset(
    model: nn.Module,
    dataset: SplitDataset,
    *,
    device: torch.device,
    seed: int = 0,
    max_per_concept: int = 500,
    max_images: int = 3000,
    attributes: list[str] | None = None,
    n_controls: int = 3,
    indices: np.ndarray | None = None,
    train_features: torch.Tensor | None = None,
) -> ConceptBank:
    """A CAV for every value of every concept attribute of `dataset` (train split), e.g. ``color=red``.

    Features come from a seeded sample of at most `max_images` train images (drawn from
    `indices` when given); pass `train_features` [N_train, D] to reuse features already computed.
    Raises ValueError when the dataset carries no concept labels.
    """
    if not dataset.concepts:
        raise ValueError(f"dataset {dataset.name!r} has no concept labels; build the bank from folders instead")
    attributes = attributes or list(dataset.concepts)
    unknown = [a for a in attributes if a not in dataset.concepts]
    if unknown:
        raise ValueError(f"unknown concept attribute(s) {unknown}; attributes: {', '.join(dataset.concepts)}")
    idx = np.arange(len(dataset.train)) if indices is None else np.asarray(indices, dtype=np.int64)
    idx = sample_at_most(idx, max_images, seed)
    if train_features is not None:
        feats = train_features[torch.as_tensor(idx)].numpy()
    else:
        feats = extract_features(model, dataset.train.x[torch.as_tensor(idx)], device=device).numpy()
    groups = {}
    for attr in attributes:
        codes = dataset.train.meta[attr][idx]
        for v, value in enumerate(dataset.concepts[attr]):
            has = codes == v
            if has.sum() >= MIN_IMAGES and (~has).sum() >= MIN_IMAGES:
                groups[f"{attr}={value}"] = (feats[has], feats[~has])
    if not groups:
        raise ValueError("no concept value has enough examples with and without it to train a probe")
    return _bank_from_groups(groups, feats, seed=seed, max_per_concept=max_per_concept, n_controls=n_controls)


def load_image_folder(folder: Path, image_size: int | tuple[int, int], channels: int = 3) -> torch.Tensor:
    """Every image in `folder` as [N, C, H, W] float in [0, 1], resized to `image_size` (PIL)."""
    from PIL import Image, UnidentifiedImageError

    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels}")
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    images = []
    for path in files:
        try:
            with Image.open(path) as img:
                img = img.convert("RGB" if channels == 3 else "L").resize((w, h), Image.BILINEAR)
                arr = np.asarray(img, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"cannot read image {path}: {err}") from None
        images.append(arr.reshape(h, w, channels).transpose(2, 0, 1))
    if not images:
        return torch.empty(0, channels, h, w)
    return torch.from_numpy(np.stack(images))


def bank_from_folders(
    model: nn.Module,
    root: str | Path,
    image_size: int | tuple[int, int],
    *,
    channels: int = 3,
    negatives: str = "negatives",
    device: torch.device,
    seed: int = 0,
    max_per_concept: int = 500,
    n_controls: int = 3,
) -> ConceptBank:
    """A CAV per sub-folder of `root` (named after the folder) against the `negatives` folder.

    Layout: ``root/<concept>/*.png`` for each concept and ``root/negatives/*.png`` for images
    without any of them; images are resized to `image_size` (the model's input size). ValueError
    names what is missing when the layout is wrong.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"concept folder {root} does not exist")
    subdirs = sorted(p for p in root.iterdir() if p.is_dir())
    neg_dir = root / negatives
    if not neg_dir.is_dir():
        raise ValueError(
            f"{root} needs a {negatives!r} folder of images without the concepts, beside one folder per concept; "
            f"found folders: {', '.join(p.name for p in subdirs) or 'none'}"
        )
    concept_dirs = [p for p in subdirs if p.name != negatives]
    if not concept_dirs:
        raise ValueError(f"{root} holds no concept folder: add one folder of example images per concept")
    neg_x = load_image_folder(neg_dir, image_size, channels)
    if len(neg_x) < MIN_IMAGES:
        raise ValueError(f"{neg_dir} holds {len(neg_x)} images; at least {MIN_IMAGES} are needed")
    neg = extract_features(model, neg_x, device=device).numpy()
    groups = {}
    for folder in concept_dirs:
        x = load_image_folder(folder, image_size, channels)
        if len(x) < MIN_IMAGES:
            raise ValueError(f"concept folder {folder} holds {len(x)} images; at least {MIN_IMAGES} are needed")
        groups[folder.name] = (extract_features(model, x, device=device).numpy(), neg)
    pool = np.concatenate([neg] + [pos for pos, _ in groups.values()])
    return _bank_from_groups(groups, pool, seed=seed, max_per_concept=max_per_concept, n_controls=n_controls)
