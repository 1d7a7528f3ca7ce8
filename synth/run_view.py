"""What a long `synth run` shows while it works: repositories done, tasks, rate and ETA.

Pure bookkeeping, fed by the factory's progress hooks and read by the CLI, which draws it as a
live bar on a terminal and as one plain line every so often in a log (a corpus run of hours is
usually watched through `tail -f`).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

RATE_WINDOW_S = 600.0  # the rate is read over the last ten minutes, so it follows the mix of repos


@dataclass
class RunView:
    repos: int
    started: float = field(default_factory=time.monotonic)
    repos_done: int = 0
    scheduled: int = 0  # candidates handed to validation so far
    decided: int = 0  # of those, validated or rejected
    tasks: int = 0
    _marks: deque = field(default_factory=deque)  # (time, decided, tasks)

    def __post_init__(self) -> None:
        self._marks.append((self.started, 0, 0))

    def add_scheduled(self, n: int) -> None:
        self.scheduled += n

    def add_decided(self, n: int, now: float | None = None) -> None:
        self.decided += n
        self._mark(now)

    def add_tasks(self, n: int, now: float | None = None) -> None:
        self.tasks += n
        self._mark(now)

    def repo_done(self) -> None:
        self.repos_done += 1

    def _mark(self, now: float | None) -> None:
        now = time.monotonic() if now is None else now
        self._marks.append((now, self.decided, self.tasks))
        while len(self._marks) > 2 and now - self._marks[1][0] > RATE_WINDOW_S:
            self._marks.popleft()

    def rates(self, now: float | None = None) -> tuple[float, float]:
        """(candidates decided, tasks validated) per second over the recent window."""
        now = time.monotonic() if now is None else now
        t0, d0, k0 = self._marks[0]
        span = max(now - t0, 1e-9)
        return (self.decided - d0) / span, (self.tasks - k0) / span

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds until every candidate scheduled so far is decided; None before any rate."""
        per_s, _ = self.rates(now)
        left = self.scheduled - self.decided
        if left <= 0:
            return 0.0
        return left / per_s if per_s > 0 else None

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        _, tasks_per_s = self.rates(now)
        eta = self.eta_s(now)
        preparing = self.repos - self.repos_done
        eta_text = "ETA —" if eta is None else f"ETA {_duration(eta)}"
        if preparing and self.scheduled == self.decided:
            eta_text = "preparing repositories"
        elif preparing:
            eta_text += " for the candidates known so far"
        return (f"repos {self.repos_done}/{self.repos} done · tasks {self.tasks} · candidates "
                f"{self.decided}/{self.scheduled} decided · {tasks_per_s * 3600:.0f} tasks/h · "
                f"{eta_text} · {_duration(now - self.started)} elapsed")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
