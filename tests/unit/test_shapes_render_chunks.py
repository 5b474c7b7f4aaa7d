"""Big shapes sets are rendered in chunks: the images are exactly those of one batch."""

from __future__ import annotations

import numpy as np

import unlearn_core.data.shapes as shapes


def test_chunked_rendering_draws_the_same_images(monkeypatch):
    whole = shapes.build_shapes(n_train=60, n_test=12, seed=4, backdoor_fraction=0.1)
    monkeypatch.setattr(shapes, "RENDER_CHUNK", 7)  # 60 = 8 chunks of 7 and one of 4
    chunked = shapes.build_shapes(n_train=60, n_test=12, seed=4, backdoor_fraction=0.1)
    assert np.array_equal(whole.train.x.numpy(), chunked.train.x.numpy())
    assert np.array_equal(whole.test.x.numpy(), chunked.test.x.numpy())
    assert np.array_equal(whole.train.y.numpy(), chunked.train.y.numpy())
