"""Concepts on your own data: probes from folders on the Concepts page (digits has no concept labels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from streamlit.testing.v1 import AppTest


def _folder(root: Path, name: str, bright: bool, n: int = 24) -> None:
    rng = np.random.default_rng(len(name))
    (root / name).mkdir(parents=True)
    for i in range(n):
        img = np.zeros((16, 16), dtype=np.uint8)
        if bright:  # a thick bright bar: a shape the digits model's features see
            img[5:11, 2:14] = 255
        img = np.clip(img + rng.integers(0, 40, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / name / f"{i}.png")


def test_concept_probes_from_folders(app: AppTest, tmp_path: Path) -> None:
    _folder(tmp_path / "concepts", "bar", bright=True)
    _folder(tmp_path / "concepts", "negatives", bright=False)
    app.switch_page("studio_ui/app_pages/concepts.py").run()
    app.text_input(key="concept_folder").input(str(tmp_path / "missing")).run()
    app.button(key="concept_folder_build").click().run()
    assert not app.exception, app.exception
    assert any("does not exist" in e.value for e in app.error)

    app.text_input(key="concept_folder").input(str(tmp_path / "concepts")).run()
    app.button(key="concept_folder_build").click().run()
    assert not app.exception, app.exception
    table = app.dataframe[0].value.set_index("concept")
    assert table.loc["bar", "heldout_accuracy"] >= 0.9  # a bright bar against noise: clearly encoded
    assert bool(table.loc["random labels (control)", "control"])
    assert table.loc["random labels (control)", "heldout_accuracy"] < table.loc["bar", "heldout_accuracy"]
