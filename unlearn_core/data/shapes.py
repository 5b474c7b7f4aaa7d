"""Concept shapes: seeded procedural RGB 32x32 images whose class is the shape of one object.

Every sample carries its concepts in `Split.meta` (indices into `SplitDataset.concepts`):
colour (red, green, blue, yellow, purple), fill pattern (solid, striped, dotted), size (small,
large) and background (dark, light); the object's position is jittered. Colour correlates with
the class: with probability `correlation` a shape has its preferred colour (circle red, square
blue, triangle green, star yellow, cross purple), otherwise a uniformly random one; diamonds have
no preferred colour (always uniform), a control class. Pattern, size and background are
independent of the class.

Options add poisoned training data: `mislabeled_fraction` relabels samples to a wrong class and
`backdoor_fraction` stamps a 4x4 checkerboard trigger (`apply_trigger`) in the bottom-right
corner of samples of other classes and relabels them to `backdoor_target`. The base images do
not depend on these options (they use their own random stream), and the test split is clean.
"""

from __future__ import annotations

import numpy as np
import torch

from unlearn_core.data.base import Split, SplitDataset
from unlearn_core.data.registry import register_dataset

IMAGE_SIZE = 32
TRIGGER_SIZE = 4
RENDER_CHUNK = 2048  # images rendered at once: bounds the renderer's scratch memory for big sets
SHAPES = ("circle", "square", "triangle", "star", "cross", "diamond")
COLORS = ("red", "green", "blue", "yellow", "purple")
PATTERNS = ("solid", "striped", "dotted")
SIZES = ("small", "large")
BACKGROUNDS = ("dark", "light")
PREFERRED_COLOR: dict[str, str | None] = {
    "circle": "red",
    "square": "blue",
    "triangle": "green",
    "star": "yellow",
    "cross": "purple",
    "diamond": None,
}

_RGB = np.array(
    [[0.90, 0.15, 0.15], [0.15, 0.75, 0.20], [0.15, 0.30, 0.90], [0.95, 0.85, 0.10], [0.60, 0.20, 0.80]],
    dtype=np.float32,
)
_BACKGROUND_LEVEL = np.array([0.12, 0.85], dtype=np.float32)  # grey level of dark / light
_RADIUS_RANGE = np.array([[5.0, 7.0], [9.0, 11.0]], dtype=np.float32)  # small / large, in pixels
_PATTERN_SHADE = 0.5  # stripes and dots are the object's colour at half brightness
_NOISE_STD = 0.03
_PREFERRED = np.array([-1 if PREFERRED_COLOR[s] is None else COLORS.index(PREFERRED_COLOR[s]) for s in SHAPES])


def _star(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    # A five-pointed star pointing up: in polar coordinates the boundary between an outer vertex
    # (radius 1.05, angle 0) and the next inner vertex (radius 0.45, angle pi/5) is a straight line.
    outer, inner, half = 1.05, 0.45, np.pi / 5
    theta = np.mod(np.arctan2(dx, -dy), 2 * half)
    phi = np.minimum(theta, 2 * half - theta)
    edge = outer * inner * np.sin(half) / (outer * np.sin(phi) + inner * np.sin(half - phi))
    return np.hypot(dx, dy) <= edge


_MASKS = (  # each takes offsets from the centre in units of the radius, broadcast to [n, H, W]
    lambda dx, dy: dx**2 + dy**2 <= 1.0,  # circle
    lambda dx, dy: np.maximum(np.abs(dx), np.abs(dy)) <= 0.82,  # square
    lambda dx, dy: (dy <= 0.75) & (np.abs(dx) <= (dy + 1.0) / 1.75),  # triangle, apex up
    _star,
    lambda dx, dy: ((np.abs(dx) <= 0.34) & (np.abs(dy) <= 1.0)) | ((np.abs(dy) <= 0.34) & (np.abs(dx) <= 1.0)),
    lambda dx, dy: np.abs(dx) + np.abs(dy) <= 1.0,  # diamond
)


def _pattern_templates(size: int) -> np.ndarray:
    """[3, H, W] bool: the pixels drawn in the darker shade for solid, striped, dotted."""
    yy, xx = np.mgrid[:size, :size]
    striped = (xx + yy) % 4 < 2  # diagonal stripes, 2 px wide
    dotted = (xx % 4 >= 1) & (xx % 4 <= 2) & (yy % 4 >= 1) & (yy % 4 <= 2)  # 2x2 dots every 4 px
    return np.stack([np.zeros_like(striped), striped, dotted])


_PATTERN_DARK = _pattern_templates(IMAGE_SIZE)
_TRIGGER = (np.indices((TRIGGER_SIZE, TRIGGER_SIZE)).sum(0) % 2).astype(np.float32)  # checkerboard


def shape_masks(shape: np.ndarray, cx: np.ndarray, cy: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """[n, 32, 32] bool object masks for shape indices `shape` centred at (`cx`, `cy`) in pixels."""
    shape, cx, cy, radius = (np.atleast_1d(np.asarray(a)) for a in (shape, cx, cy, radius))
    coords = np.arange(IMAGE_SIZE, dtype=np.float32) + 0.5  # pixel centres
    r = radius.astype(np.float32)[:, None, None]
    dx = (coords[None, None, :] - cx.astype(np.float32)[:, None, None]) / r  # [n, 1, W]
    dy = (coords[None, :, None] - cy.astype(np.float32)[:, None, None]) / r  # [n, H, 1]
    out = np.zeros((len(shape), IMAGE_SIZE, IMAGE_SIZE), dtype=bool)
    for k, mask_fn in enumerate(_MASKS):
        sel = shape == k
        if sel.any():
            out[sel] = mask_fn(dx[sel], dy[sel])
    return out


def render_batch(
    shape: np.ndarray,
    color: np.ndarray,
    pattern: np.ndarray,
    background: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    radius: np.ndarray,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """[n, 3, 32, 32] float32 images in [0, 1] from per-sample concept indices and geometry.

    Pixel noise comes from `rng` (none when it is None). Size is implied by `radius`.
    """
    mask = shape_masks(shape, cx, cy, radius)  # [n, H, W]
    n = len(mask)
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    images[:] = _BACKGROUND_LEVEL[np.asarray(background)][:, None, None, None]
    shade = np.where(_PATTERN_DARK[np.asarray(pattern)], _PATTERN_SHADE, 1.0).astype(np.float32)  # [n, H, W]
    fill = _RGB[np.asarray(color)][:, :, None, None] * shade[:, None]  # [n, 3, H, W]
    np.copyto(images, fill, where=mask[:, None])
    if rng is not None:
        images += _NOISE_STD * rng.standard_normal(images.shape, dtype=np.float32)
        np.clip(images, 0.0, 1.0, out=images)
    return images


def _index(value: int | str | np.ndarray, names: tuple[str, ...], attr: str) -> np.ndarray:
    """Concept value(s) given as names or indices -> int64 indices, validated."""
    arr = np.atleast_1d(np.asarray(value))
    if arr.dtype.kind in "US":
        unknown = sorted(set(arr.tolist()) - set(names))
        if unknown:
            raise ValueError(f"unknown {attr} {unknown}; allowed: {', '.join(names)}")
        return np.array([names.index(v) for v in arr.tolist()], dtype=np.int64)
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= len(names)):
        raise ValueError(f"{attr} index out of range 0..{len(names) - 1}: {arr.min()}..{arr.max()}")
    return arr


def render(
    shape: int | str,
    color: int | str,
    pattern: int | str = "solid",
    size: int | str = "large",
    background: int | str = "dark",
    *,
    center: tuple[float, float] = (16.0, 16.0),
    radius: float | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """One [3, 32, 32] float32 image of the given concept combination (names or indices).

    `radius` defaults to the middle of the size's range; `seed` adds the usual pixel noise.
    """
    size_idx = _index(size, SIZES, "size")
    if radius is None:
        radius = float(_RADIUS_RANGE[size_idx[0]].mean())
    rng = None if seed is None else np.random.default_rng(seed)
    return render_batch(
        _index(shape, SHAPES, "shape"),
        _index(color, COLORS, "color"),
        _index(pattern, PATTERNS, "pattern"),
        _index(background, BACKGROUNDS, "background"),
        np.array([center[0]]),
        np.array([center[1]]),
        np.array([radius]),
        rng,
    )[0]


def rerender(
    split: Split,
    indices: np.ndarray | list[int] | None = None,
    *,
    seed: int = 0,
    **overrides: int | str | np.ndarray,
) -> torch.Tensor:
    """Re-draw samples of a shapes split with some concepts replaced, e.g. ``color="yellow"``.

    Shape, geometry and the other concepts come from the split's metadata; backdoored samples get
    their trigger again. The pixel noise is fresh (from `seed`). Returns [n, 3, 32, 32].
    """
    allowed = {"color": COLORS, "pattern": PATTERNS, "background": BACKGROUNDS}
    unknown = set(overrides) - set(allowed)
    if unknown:
        raise ValueError(f"cannot override {sorted(unknown)}; allowed: {', '.join(allowed)}")
    idx = np.arange(len(split)) if indices is None else np.asarray(indices, dtype=np.int64)
    meta = {k: split.meta[k][idx] for k in ("true_label", "color", "pattern", "background", "pos_x", "pos_y", "radius")}
    for attr, value in overrides.items():
        meta[attr] = np.broadcast_to(_index(value, allowed[attr], attr), idx.shape)
    images = render_batch(
        meta["true_label"],
        meta["color"],
        meta["pattern"],
        meta["background"],
        meta["pos_x"],
        meta["pos_y"],
        meta["radius"],
        np.random.default_rng(seed),
    )
    backdoor = split.meta["backdoor"][idx]
    images[backdoor, :, -TRIGGER_SIZE:, -TRIGGER_SIZE:] = _TRIGGER
    return torch.from_numpy(images)


def apply_trigger(x: torch.Tensor) -> torch.Tensor:
    """A copy of image(s) `x` [..., C, H, W] with the 4x4 checkerboard trigger in the bottom-right corner."""
    out = x.clone()
    out[..., -TRIGGER_SIZE:, -TRIGGER_SIZE:] = torch.from_numpy(_TRIGGER).to(out.dtype).to(out.device)
    return out


def _generate(
    n: int, correlation: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """n clean samples, classes balanced: images [n, 3, 32, 32], labels [n], metadata."""
    shape = rng.permutation(np.arange(n) % len(SHAPES))
    preferred = _PREFERRED[shape]
    use_preferred = (rng.random(n) < correlation) & (preferred >= 0)
    color = np.where(use_preferred, preferred, rng.integers(0, len(COLORS), n))
    pattern = rng.integers(0, len(PATTERNS), n)
    size = rng.integers(0, len(SIZES), n)
    background = rng.integers(0, len(BACKGROUNDS), n)
    lo, hi = _RADIUS_RANGE[size, 0], _RADIUS_RANGE[size, 1]
    radius = (lo + (hi - lo) * rng.random(n)).astype(np.float32)
    # Centres keep the whole object (plus 1 px) inside the image.
    cx = (radius + 1 + (IMAGE_SIZE - 2 * radius - 2) * rng.random(n)).astype(np.float32)
    cy = (radius + 1 + (IMAGE_SIZE - 2 * radius - 2) * rng.random(n)).astype(np.float32)
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    for lo in range(0, n, RENDER_CHUNK):  # the same images as one batch (the noise is drawn in order)
        part = slice(lo, lo + RENDER_CHUNK)
        images[part] = render_batch(shape[part], color[part], pattern[part], background[part], cx[part], cy[part],
                                    radius[part], rng)
    meta = {
        "color": color.astype(np.int64),
        "pattern": pattern.astype(np.int64),
        "size": size.astype(np.int64),
        "background": background.astype(np.int64),
        "true_label": shape.astype(np.int64),
        "mislabeled": np.zeros(n, dtype=bool),
        "backdoor": np.zeros(n, dtype=bool),
        "pos_x": cx,
        "pos_y": cy,
        "radius": radius,
    }
    return images, shape.astype(np.int64), meta


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1); got {value}")


@register_dataset(
    "shapes",
    "concept shapes: 6 shape classes with colour / pattern / size / background concepts, "
    "optional mislabeled and backdoored samples, RGB 32x32, built in",
    needs_root=False,
)
def build_shapes(
    n_train: int = 6000,
    n_test: int = 1200,
    seed: int = 0,
    correlation: float = 0.8,
    mislabeled_fraction: float = 0.0,
    backdoor_fraction: float = 0.0,
    backdoor_target: int = 0,
) -> SplitDataset:
    """Concept shapes with `n_train` / `n_test` class-balanced images, deterministic in `seed`.

    `mislabeled_fraction` and `backdoor_fraction` are fractions of the training set (disjoint
    samples; backdoored ones are drawn from classes other than `backdoor_target`). Metadata:
    concept indices ``color``, ``pattern``, ``size``, ``background``; flags ``mislabeled`` and
    ``backdoor``; ``true_label`` (the shape drawn); geometry ``pos_x``, ``pos_y``, ``radius``.
    """
    if n_train < len(SHAPES) or n_test < len(SHAPES):
        raise ValueError(f"n_train and n_test must be at least {len(SHAPES)}; got {n_train}, {n_test}")
    if not 0.0 <= correlation <= 1.0:
        raise ValueError(f"correlation must be in [0, 1]; got {correlation}")
    _check_fraction("mislabeled_fraction", mislabeled_fraction)
    _check_fraction("backdoor_fraction", backdoor_fraction)
    if mislabeled_fraction + backdoor_fraction >= 1.0:
        raise ValueError("mislabeled_fraction + backdoor_fraction must be below 1")
    if not 0 <= backdoor_target < len(SHAPES):
        raise ValueError(f"backdoor_target must be a class index 0..{len(SHAPES) - 1}; got {backdoor_target}")

    train_x, train_y, train_meta = _generate(n_train, correlation, np.random.default_rng([seed, 0]))
    test_x, test_y, test_meta = _generate(n_test, correlation, np.random.default_rng([seed, 1]))

    poison_rng = np.random.default_rng([seed, 2])
    n_backdoor = int(round(backdoor_fraction * n_train))
    candidates = np.flatnonzero(train_y != backdoor_target)
    if n_backdoor > len(candidates):
        raise ValueError(f"backdoor_fraction {backdoor_fraction} needs {n_backdoor} samples of other classes")
    chosen = np.sort(poison_rng.choice(candidates, n_backdoor, replace=False))
    train_x[chosen, :, -TRIGGER_SIZE:, -TRIGGER_SIZE:] = _TRIGGER
    train_y[chosen] = backdoor_target
    train_meta["backdoor"][chosen] = True

    n_mislabeled = int(round(mislabeled_fraction * n_train))
    chosen = np.sort(poison_rng.choice(np.flatnonzero(~train_meta["backdoor"]), n_mislabeled, replace=False))
    # A uniformly random wrong class: shift the label by 1..5 (mod 6).
    train_y[chosen] = (train_y[chosen] + poison_rng.integers(1, len(SHAPES), n_mislabeled)) % len(SHAPES)
    train_meta["mislabeled"][chosen] = True

    test = Split(torch.from_numpy(test_x), torch.from_numpy(test_y), test_meta)
    extras: dict[str, Split] = {}
    if backdoor_fraction > 0:
        victims = test.subset(np.flatnonzero(test_y != backdoor_target))
        meta = {**victims.meta, "backdoor": np.ones(len(victims), dtype=bool)}
        extras["backdoor_test"] = Split(apply_trigger(victims.x), victims.y, meta)
    return SplitDataset(
        name="shapes",
        train=Split(torch.from_numpy(train_x), torch.from_numpy(train_y), train_meta),
        test=test,
        class_names=list(SHAPES),
        concepts={
            "color": list(COLORS),
            "pattern": list(PATTERNS),
            "size": list(SIZES),
            "background": list(BACKGROUNDS),
        },
        extras=extras,
        options={
            "n_train": n_train,
            "n_test": n_test,
            "seed": seed,
            "correlation": correlation,
            "mislabeled_fraction": mislabeled_fraction,
            "backdoor_fraction": backdoor_fraction,
            "backdoor_target": backdoor_target,
        },
        backdoor_target=backdoor_target if backdoor_fraction > 0 else None,
    )
