"""A method's caveat is words; its figures are read from the stored benchmark tables it names, so
they follow the tables when the benchmarks are rerun (one home for every figure)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from studio_ui.method_docs import measured_figures
from unlearn_core.methods import list_methods

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
FIGURE = re.compile(r"\d+(\.\d+)?\s*(%|points|±)|gap \d")


@pytest.mark.parametrize("info", list_methods(), ids=lambda m: m.name)
def test_a_caveat_holds_no_measured_figure_and_names_stored_tables(info) -> None:
    cls = info.config_cls
    assert not FIGURE.search(cls.caveats), cls.caveats
    for stem in cls.caveat_results:
        table = json.loads((RESULTS / f"{stem}.json").read_text())
        assert info.name in table["methods"], f"{stem} has no {info.name} row"
    if cls.caveats and info.name != "del":  # DEL's caveat states its settings' provenance, not a miss
        assert cls.caveat_results, f"{info.name}'s caveat names no stored table"


def test_the_figures_follow_the_stored_table(tmp_path: Path) -> None:
    shutil.copy(RESULTS / "digits-class_3.json", tmp_path / "digits-class_3.json")
    before = measured_figures("finetune", ("digits-class_3",), tmp_path)
    table = json.loads((tmp_path / "digits-class_3.json").read_text())
    table["methods"]["finetune"]["avg_gap"] = {"mean": 42.25, "std": 1.5}
    table["methods"]["finetune"]["forget_acc"]["mean"] = 0.125
    table["retrain"]["mia_efficacy"]["mean"] = 0.5
    (tmp_path / "digits-class_3.json").write_text(json.dumps(table))
    after = measured_figures("finetune", ("digits-class_3",), tmp_path)
    assert before != after
    assert after[0].startswith("digits `class:3` (3 seeds, ")
    assert "average gap 42.2 ± 1.50 points" in after[0] or "average gap 42.3 ± 1.50 points" in after[0]
    assert "forget accuracy 12.5% against retraining's 0.0%" in after[0]
    assert "MIA-efficacy" in after[0] and "against 50.0%" in after[0]
    assert measured_figures("finetune", ("no-such-table",), tmp_path) == []
