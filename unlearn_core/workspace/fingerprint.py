"""Content fingerprints of datasets: what a cached model was trained on, not just its name.

A cached original model or retrained oracle is only valid for the exact images and labels it was
trained on. Names and options do not say that (a local ImageFolder can change under the same
path), so cache keys carry a hash of the content itself.
"""

from __future__ import annotations

import hashlib
import weakref

import torch

from unlearn_core.data import Split, SplitDataset

# id(dataset) -> fingerprint, dropped when the dataset is garbage-collected (a SplitDataset is an
# unhashable dataclass, so a WeakKeyDictionary cannot hold it; the caller's object is never touched).
_CACHE: dict[int, str] = {}


def _update(h: hashlib._Hash, split: Split) -> None:
    for tensor in (split.x, split.y):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().data if t.numel() else b"")


def data_fingerprint(dataset: SplitDataset) -> str:
    """A 16-hex-digit hash of the train and test images, labels and class names of `dataset`.

    Computed once per loaded dataset object (about 1 s per 600 MB of images on one core).
    """
    key = id(dataset)
    if key not in _CACHE:
        h = hashlib.blake2b(digest_size=8)
        h.update("\x1f".join([dataset.name, *dataset.class_names]).encode())
        for split in (dataset.train, dataset.test):
            _update(h, split)
        _CACHE[key] = h.hexdigest()
        weakref.finalize(dataset, _CACHE.pop, key, None)
    return _CACHE[key]
