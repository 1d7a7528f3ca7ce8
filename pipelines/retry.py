"""Bounded, candidate-by-candidate retries of validation batches whose worker was lost.

Ray's own ``max_retries`` resubmits a whole batch, and a batch that still fails leaves all of its
candidates undecided, so every rerun tries the poisonous one (and its innocent neighbours) again.
Here the driver retries instead: a batch lost to a dead worker or node, an OOM kill or a hang is
split into single candidates, each attempt is counted per candidate, and a candidate lost
``bound`` times is given up, so the caller can store it with a verdict and never try it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ray
import ray.exceptions

from synth.records import Candidate

MAX_ATTEMPTS = 3  # per candidate, the first attempt included
# What a lost worker looks like from the driver. An exception the task itself raised
# (RayTaskError) is an answer, not a loss: retrying would only raise it again.
LOST_ERRORS: tuple[type[BaseException], ...] = (
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.OutOfMemoryError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.TaskCancelledError,
    ray.exceptions.LocalRayletDiedError,
)


@dataclass
class _Call:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    origin: Any  # the first submission's ref: what the rest of the run knows the batch by
    started: float | None = None  # when it was first seen among the running calls
    options: dict[str, Any] | None = None  # Ray options (where to run it), kept for retries


class Retrying:
    """A Ray remote function over candidate batches (the keyword argument ``items``), retried
    per item.

    ``budget_s(items)`` is how long one call may run before it counts as hung and is cancelled.
    """

    def __init__(
        self,
        remote_fn: Any,
        *,
        items: str,
        bound: int = MAX_ATTEMPTS,
        budget_s: Callable[[Sequence[Candidate]], float] | None = None,
    ) -> None:
        self._fn = remote_fn
        self._items = items  # the name of the function's argument that takes the batch
        self.bound = bound
        self._budget_s = budget_s
        self._calls: dict[Any, _Call] = {}
        self._parts: dict[Any, int] = {}  # origin -> calls of it still out
        self.attempts: dict[str, int] = {}  # candidate id -> attempts started

    def remote(self, *args: Any, ray_options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self._submit(args, kwargs, origin=None, options=ray_options)

    def owns(self, ref: Any) -> bool:
        return ref in self._calls

    def items(self, ref: Any) -> Sequence[Candidate]:
        return self._calls[ref].kwargs[self._items]

    def lost(self, ref: Any) -> tuple[list[Any], list[Candidate]]:
        """``ref``'s worker was lost: the refs retrying its items one by one, and the items
        given up (tried ``bound`` times already)."""
        call = self._calls[ref]
        retries, given_up = [], []
        for item in call.kwargs[self._items]:
            if self.attempts.get(item.candidate_id, 0) >= self.bound:
                given_up.append(item)
                continue
            retries.append(self._submit(call.args, {**call.kwargs, self._items: [item]},
                                        origin=call.origin, options=call.options))
        return retries, given_up

    def settle(self, ref: Any) -> Any | None:
        """``ref`` is done with (answered, failed, or replaced by retries submitted before this
        call): its batch's first ref once nothing of that batch is still out, else None."""
        call = self._calls.pop(ref)
        self._parts[call.origin] -= 1
        if self._parts[call.origin]:
            return None
        del self._parts[call.origin]
        return call.origin

    def overdue(self, running: int, now: float | None = None) -> list[Any]:
        """Calls past their budget. Only the ``running`` oldest calls are taken to have started
        (Ray starts them about in submission order): time spent queued is not held against one.
        """
        if self._budget_s is None:
            return []
        now = time.monotonic() if now is None else now
        late = []
        for ref, call in list(self._calls.items())[: max(running, 0)]:
            if call.started is None:
                call.started = now
            elif now - call.started > self._budget_s(call.kwargs[self._items]):
                late.append(ref)
        return late

    def _submit(self, args: tuple[Any, ...], kwargs: dict[str, Any], origin: Any,
                options: dict[str, Any] | None = None) -> Any:
        if self._items not in kwargs:
            raise TypeError(f"the batch goes by keyword: {self._items}=[...]")
        for item in kwargs[self._items]:
            self.attempts[item.candidate_id] = self.attempts.get(item.candidate_id, 0) + 1
        fn = self._fn.options(**options) if options else self._fn
        ref = fn.remote(*args, **kwargs)
        origin = ref if origin is None else origin
        self._calls[ref] = _Call(args, kwargs, origin, options=options)
        self._parts[origin] = self._parts.get(origin, 0) + 1
        return ref


def cancel(refs: Sequence[Any]) -> None:
    """Cancel hung calls; each then raises TaskCancelledError from ``ray.get``."""
    for ref in refs:
        ray.cancel(ref, force=True)
