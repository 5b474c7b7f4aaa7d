"""Run cards say what a run waits for and how long it took (issue 25): never "cancelled · 0 s"."""

from __future__ import annotations

import dataclasses

from studio_ui.run_list import QUEUED_WHY, STARTING_WHY, progress_text, status_line
from unlearn_core.runs.records import RunRow


def _row(**changes: object) -> RunRow:
    base = {f.name: None for f in dataclasses.fields(RunRow)}
    base.update(id="r1", title="DEL forgetting class 3", method="del", forget="class:3", dataset="digits",
                request={}, status="queued", progress=0.0, message="queued", phase="", created=100.0,
                heartbeat=100.0, cancel_requested=False)
    base.update(changes)
    return RunRow(**base)


def test_cancelled_runs_say_when() -> None:
    assert status_line(_row(status="cancelled", ended=100.2)) == "cancelled before it started"
    assert status_line(_row(status="cancelled", started=101.0, ended=109.0)) == "cancelled after 8 s"
    assert "0 s" not in status_line(_row(status="cancelled", started=100.0, ended=100.3))


def test_queued_and_starting_runs_say_why() -> None:
    assert status_line(_row(), now=103.0) == "queued for 3 s"
    assert progress_text(_row()) == QUEUED_WHY and "worker" in QUEUED_WHY
    assert progress_text(_row(status="running", started=101.0, message="starting")) == STARTING_WHY
    assert progress_text(_row(status="running", started=101.0, message="DEL | finetune 3/30")) == "DEL | finetune 3/30"
    assert status_line(_row(status="done", started=100.0, ended=135.0)) == "done in 35 s"
