"""What a long `synth run` shows while it works: repositories done, tasks, rate and ETA.

Pure bookkeeping, fed by the factory's progress hooks and read by the CLI, which draws it as a
live bar on a terminal and as one plain line every so often in a log (a corpus run of hours is
usually watched through `tail -f`).

The ETA weighs what is left by what it costs: a candidate of a repository whose clean suite
takes 9 CPU-seconds is worth thirty of one whose suite takes 0.3, so a run that starts on slow
repositories does not promise a day and one that starts on fast ones does not promise minutes.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

RATE_WINDOW_S = 600.0  # rates are read over the last ten minutes, so they follow the mix of repos


@dataclass
class RunView:
    repos: int
    started: float = field(default_factory=time.monotonic)
    repos_done: int = 0
    scheduled: int = 0  # candidates handed to validation so far
    decided: int = 0  # of those, validated or rejected
    tasks: int = 0
    _unit: dict[str, float] = field(default_factory=dict)  # source -> cost of one candidate
    _work_left: float = 0.0  # candidates scheduled and not decided, weighed by their cost
    _work_done: float = 0.0
    _marks: deque = field(default_factory=deque)  # (time, decided, tasks, work done)

    def __post_init__(self) -> None:
        self._marks.append((self.started, 0, 0, 0.0))

    def add_scheduled(self, n: int, source: str = "", unit_s: float = 1.0) -> None:
        """``n`` more candidates of ``source``, each costing about ``unit_s`` (its clean run)."""
        self._unit[source] = max(unit_s, 1e-3)
        self.scheduled += n
        self._work_left += n * self._unit[source]

    def add_decided(self, n: int, source: str = "", now: float | None = None) -> None:
        work = n * self._unit.get(source, 1.0)
        self.decided += n
        self._work_done += work
        self._work_left = max(self._work_left - work, 0.0)
        self._mark(now)

    def add_tasks(self, n: int, now: float | None = None) -> None:
        self.tasks += n
        self._mark(now)

    def repo_done(self) -> None:
        self.repos_done += 1

    def _mark(self, now: float | None) -> None:
        now = time.monotonic() if now is None else now
        self._marks.append((now, self.decided, self.tasks, self._work_done))
        while len(self._marks) > 2 and now - self._marks[1][0] > RATE_WINDOW_S:
            self._marks.popleft()

    def _since_window(self, now: float) -> tuple[float, int, int, float]:
        t0, d0, k0, w0 = self._marks[0]
        return max(now - t0, 1e-9), self.decided - d0, self.tasks - k0, self._work_done - w0

    def rates(self, now: float | None = None) -> tuple[float, float]:
        """(candidates decided, tasks validated) per second over the recent window."""
        span, decided, tasks, _ = self._since_window(time.monotonic() if now is None else now)
        return decided / span, tasks / span

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds until every candidate scheduled so far is decided; None before any rate."""
        if self.scheduled <= self.decided:
            return 0.0
        span, _, _, work = self._since_window(time.monotonic() if now is None else now)
        return self._work_left / (work / span) if work > 0 else None

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
