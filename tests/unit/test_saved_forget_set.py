"""A forget set saved from hand-picked samples stores a spec that resolves to exactly those samples."""

from __future__ import annotations

import numpy as np

from unlearn_core.data import SplitDataset
from unlearn_core.forget import resolve
from unlearn_core.workspace.store import Workspace


def test_a_picked_set_is_stored_with_a_spec_naming_its_own_index_file(tmp_path, digits: SplitDataset) -> None:
    ws = Workspace(tmp_path / "ws")
    picked = np.array([40, 3, 17])
    entry = ws.save_forget_set("three picks", "digits", None, picked)
    spec = entry.info["spec"]
    assert spec == f"indices:{entry.file('indices.txt')}"
    assert Workspace(tmp_path / "ws").get(entry.id).info["spec"] == spec  # as stored, not just returned
    assert resolve(spec, digits).forget_idx.tolist() == [3, 17, 40]


def test_a_set_saved_from_a_spec_keeps_that_spec(tmp_path, digits: SplitDataset) -> None:
    ws = Workspace(tmp_path / "ws")
    entry = ws.save_forget_set("threes", "digits", "class:3", resolve("class:3", digits).forget_idx)
    assert entry.info["spec"] == "class:3"
