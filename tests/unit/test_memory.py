"""Peak memory of a piece of work (`unlearn_core.memory`): the kernel's high-water mark, reset
before each piece of work, so a short spike counts and an earlier one does not."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn_core.memory import PeakMemory, peak_rss_mb, reset_peak_rss, track_peak_memory

pytestmark = pytest.mark.skipif(not reset_peak_rss(), reason="needs Linux's resettable peak RSS")


def _spike(mb: int) -> None:
    block = np.ones(mb * 1024 * 1024 // 8)  # touched, so resident
    del block


def test_a_freed_spike_counts_and_the_next_measure_starts_afresh():
    with track_peak_memory("cpu") as big:
        _spike(300)
    with track_peak_memory("cpu") as small:
        _spike(30)
    assert big.peak_rss_mb - small.peak_rss_mb > 200  # 300 MB vs 30 MB, both freed before the end
    assert small.peak_rss_mb >= peak_rss_mb() - 1  # nothing bigger happened since
    assert big.cuda_max_allocated_mb is None  # no CUDA on a cpu device


def test_the_measure_is_filled_in_when_the_work_raises():
    with pytest.raises(RuntimeError), track_peak_memory("cpu") as peak:
        raise RuntimeError("boom")
    assert peak.peak_rss_mb is not None and peak.peak_rss_mb > 0
    assert PeakMemory().to_dict() == {"peak_rss_mb": None, "cuda_max_allocated_mb": None}
