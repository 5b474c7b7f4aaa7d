"""Did a run forget? One flag for the Unlearn run card and Compare (issue 25).

A run that leaves the forget accuracy where the original model had it (concept poisoning on
color=red: 100% against retraining's 55%) forgot nothing, whatever its other figures say. The
flag says so, with the rule that raised it:

- when a seed study of the run's request and settings is stored, its verdict on forget accuracy
  (outside retraining's spread, on the original's side of it) decides;
- else one run against one retrained model: the run failed to forget when its forget accuracy
  is closer to the original model's than to the retrained model's (and the two differ by more
  than `MIN_SPLIT` so there is something to forget).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from unlearn_core.workspace.store import Workspace

from .labels import format_value

MIN_SPLIT = 0.05  # original and retrained forget accuracy closer than this: nothing to tell apart


@dataclass(frozen=True)
class ForgetFlag:
    """A failed forget: the sentence to show and whether a seed study's verdict decided it."""

    text: str
    from_study: bool


def _side_of_original(unlearned: float, original: float, retrained: float) -> bool:
    """Whether `unlearned` lies on the original's side of the midpoint between original and retrained."""
    return abs(unlearned - original) < abs(unlearned - retrained)


def failed_forget(summary: Mapping[str, Any], study: Mapping[str, Any] | None = None) -> ForgetFlag | None:
    """A `ForgetFlag` when the run in `summary` forgot nothing, else None.

    `study` is a stored seed study's result of the same request and settings (its ``verdict`` and
    ``retrain`` spread); without one, the midpoint rule of the module doc applies.
    """
    try:
        fa = {who: summary[who]["forget_acc"] for who in ("original", "unlearned", "retrain")}
    except (KeyError, TypeError):
        return None
    if any(v is None for v in fa.values()):
        return None
    shown = {who: format_value("forget_acc", v) for who, v in fa.items()}
    if study is not None and study.get("verdict", {}).get("forget_acc") is not None:
        spread = study.get("retrain", {}).get("forget_acc", {})
        mean = spread.get("mean", fa["retrain"])
        if study["verdict"]["forget_acc"] == "outside" and _side_of_original(
                study.get("unlearned", {}).get("forget_acc", {}).get("mean", fa["unlearned"]), fa["original"], mean):
            return ForgetFlag(
                f"Failed to forget: the seed study finds forget accuracy outside retraining's spread, on the "
                f"original model's side (this run {shown['unlearned']}, retrained models "
                f"{format_value('forget_acc', spread.get('min'))}–{format_value('forget_acc', spread.get('max'))}, "
                f"original {shown['original']}).", True)
        return None
    if abs(fa["original"] - fa["retrain"]) < MIN_SPLIT:
        return None
    if _side_of_original(fa["unlearned"], fa["original"], fa["retrain"]):
        return ForgetFlag(
            f"Failed to forget: forget accuracy {shown['unlearned']} is closer to the original model's "
            f"({shown['original']}) than to the retrained model's ({shown['retrain']}). Rule: one run against one "
            "retrained model; a seed study of this request judges it against retraining's spread.", False)
    return None


def show_forget_flag(summary: Mapping[str, Any], study: Mapping[str, Any] | None = None) -> ForgetFlag | None:
    """Draw the failed-forget flag (a warning box with a flag) when `failed_forget` raises one; returns it."""
    flag = failed_forget(summary, study)
    if flag is not None:
        st.warning(flag.text, icon=":material/flag:")  # about the run, not an error of the app
    return flag


def flag_run(workspace: Workspace, summary: Mapping[str, Any]) -> ForgetFlag | None:
    """`show_forget_flag` for a stored run, with the seed study of its request and settings when one is
    stored (`study_view.study_of_run`): the call the run card and Compare make."""
    from .study_view import study_of_run

    study = study_of_run(workspace, summary)
    return show_forget_flag(summary, study.info if study is not None else None)
