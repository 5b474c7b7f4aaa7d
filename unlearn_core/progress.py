"""Progress reporting and cooperative cancellation shared by training and every method."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report: `step` of `total`, a short message and metrics so far."""

    step: int
    total: int
    message: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.step / self.total)


ProgressFn = Callable[[ProgressEvent], None]
StopFn = Callable[[], bool]


class Cancelled(RuntimeError):
    """Raised inside a loop when `should_stop()` returned True; nothing partial is kept."""


def no_progress(_: ProgressEvent) -> None:
    """A progress callback that ignores every event."""


def never_stop() -> bool:
    """A stop predicate that never asks to stop."""
    return False


def check_stop(should_stop: StopFn) -> None:
    """Raise Cancelled if the caller asked to stop."""
    if should_stop():
        raise Cancelled("cancelled by the user")
