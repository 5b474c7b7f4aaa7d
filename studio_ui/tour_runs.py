"""The guided tour's request and its runs: what is stored, what is running, what the click starts (issue 23).

The tour forgets every 3 of the built-in digits with DEL and with the fast RFA. Both start together,
each in its own worker: RFA's method takes about a second, then its run trains the retrained model
(`unlearn_run` fetches the oracle after the method) while DEL's method is still running, one core
each; DEL then finds the retrained model stored, or waits for the rest of it. The verdict needs DEL
and the retrained model only. A click computes nothing that a stored run already holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from unlearn_core.data import SplitDataset
from unlearn_core.methods import get_method
from unlearn_core.models import SplitClassifier, state_digest
from unlearn_core.runs.one_run import find_run
from unlearn_core.runs.records import RunRow
from unlearn_core.runs.worker import RunRequest
from unlearn_core.workspace.fingerprint import data_fingerprint
from unlearn_core.workspace.store import Entry, Workspace

from . import jobs, state

DATA = state.DataRef()  # the built-in digits
MODEL = state.ModelRef("default")
FORGET = state.ForgetSelection("class:3", "class 3 (every train image of a 3)")
METHOD = "del"
FAST_METHOD = "rfa"  # one of the fast methods (about 0.06x of retraining); its run trains the retrained model
METHODS = (METHOD, FAST_METHOD)
SEED = 0
STUDY_K = 4  # the tour's seed study: the smallest K at which the test can call a miss, to keep it cheap


@dataclass(frozen=True)
class TourRun:
    """One method of the tour: its run request, the newest stored run of exactly that request
    (`stored`, also one made elsewhere, e.g. on the Unlearn page) and the request's newest run
    record (`row`: queued, running or ended)."""

    method: str
    request: RunRequest
    stored: Entry | None
    row: RunRow | None

    @property
    def active(self) -> bool:
        """Whether a run of this request is queued or running."""
        return self.row is not None and self.row.active

    @property
    def result_id(self) -> str | None:
        """The run to show: the request's run that just finished, else the newest stored one."""
        if self.row is not None and self.row.status == "done":
            return self.row.id
        return self.stored.id if self.stored is not None else None


def tour_runs(workspace: Workspace, data: SplitDataset, model: SplitClassifier) -> tuple[TourRun, ...]:
    """DEL's and RFA's runs of the tour (default settings, in `METHODS` order) in `workspace`, where
    `data` and `model` are the tour's loaded dataset and starting model."""
    digest, fingerprint = state_digest(model), data_fingerprint(data)
    found = []
    for method in METHODS:
        config = get_method(method).config_cls()
        request = jobs.request_for(FORGET.spec, method, config, seed=SEED, data=DATA, model=MODEL)
        stored = find_run(workspace, dataset=data.name, method=method, forget=FORGET.spec, seed=SEED,
                          model_digest=digest, config=config.to_dict(), fingerprint=fingerprint)
        found.append(TourRun(method, request, stored, jobs.latest(request)))
    return tuple(found)


def study_request(del_run: TourRun) -> RunRequest:
    """The seed study (K = `STUDY_K`) of the tour's DEL request, started after the verdict."""
    return dataclasses.replace(del_run.request, study_k=STUDY_K)


def to_start(runs: Sequence[TourRun]) -> list[TourRun]:
    """The runs the tour's button starts: none while one of them is queued or running (a second
    click starts nothing twice); else those with no stored run (a stored run is shown, not computed
    again); else, when every one is stored ("Run the tour again"), all of them again, which reuse
    the stored retrained model."""
    if any(r.active for r in runs):
        return []
    return [r for r in runs if r.stored is None] or list(runs)


def all_stored(runs: Sequence[TourRun]) -> bool:
    """Whether every method of the tour has a stored run (the button then runs the tour again)."""
    return all(r.stored is not None for r in runs)
