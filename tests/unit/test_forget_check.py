"""The failed-forget flag (issue 25): a run that forgot nothing is flagged, with the rule that raised it."""

from __future__ import annotations

from studio_ui.forget_check import failed_forget


def _summary(original: float, unlearned: float, retrain: float) -> dict:
    return {who: {"forget_acc": v} for who, v in (("original", original), ("unlearned", unlearned),
                                                   ("retrain", retrain))}


def test_concept_poisoning_on_red_is_flagged() -> None:
    """Forget accuracy 100% against retraining's 55% (the original's 100%): failed, rule stated."""
    flag = failed_forget(_summary(1.0, 1.0, 0.55))
    assert flag is not None and not flag.from_study
    assert "100.0%" in flag.text and "55.0%" in flag.text and "closer to the original" in flag.text


def test_a_run_that_forgot_is_not_flagged() -> None:
    assert failed_forget(_summary(1.0, 0.02, 0.0)) is None
    assert failed_forget(_summary(0.99, 0.98, 0.985)) is None  # nothing to tell apart: no flag


def test_the_seed_study_decides_when_there_is_one() -> None:
    study = {"verdict": {"forget_acc": "outside"}, "retrain": {"forget_acc": {"mean": 0.55, "min": 0.5, "max": 0.6}},
             "unlearned": {"forget_acc": {"mean": 0.97}}}
    flag = failed_forget(_summary(1.0, 0.97, 0.55), study)
    assert flag is not None and flag.from_study and "seed study" in flag.text
    within = {**study, "verdict": {"forget_acc": "within"}}
    assert failed_forget(_summary(1.0, 0.9, 0.55), within) is None  # the study's verdict wins over the rule
