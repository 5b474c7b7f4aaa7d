"""One formatter for every figure (issue 25): no "100.0000", no "1" beside "1.00", AUCs not in %."""

from __future__ import annotations

import math

from studio_ui.labels import format_number, format_value
from studio_ui.widgets import pct


def test_numbers_read_one_way() -> None:
    assert format_number(1.0) == "1.00" and format_number(0.953) == "0.95"  # same decimals side by side
    assert format_number(100.0) == "100" and format_number(12.345) == "12.3"
    assert format_number(0.005) == "0.005"
    assert format_number(1438) == "1,438"
    assert format_number(None) == "–" and format_number(math.nan) == "–"
    assert format_number(1.0, percent=True) == "100.0%" == pct(1.0)


def test_metric_values_by_kind() -> None:
    assert format_value("loss_mia_auc", 0.5) == "0.50"  # beside "0.5 = no leak": not "50.0%"
    assert format_value("mia_attack_acc", 0.47) == "47.0%"
    assert format_value("forget_acc", 0.55) == "55.0%"
    assert format_value("time_ratio", 0.25) == "0.25x"
    assert format_value("time_s", 12.34) == "12.3 s"
    assert format_value("tug_of_war", 1.0) == "1.00"


def test_glossary_explains_the_terms_pages_use() -> None:
    from studio_ui.labels import GLOSSARY

    terms = " ".join(GLOSSARY)
    for term in ("CKA", "JS divergence", "TPR / FPR", "Relearn", "IG", "LoRA", "Noise floor", "Seed study",
                 "forgetting quality F"):
        assert term in terms, term
