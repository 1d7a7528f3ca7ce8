"""Scoring a candidate fix of a task: resolved, partial, unresolved, tampered, or error.

A solution is a diff against the task's buggy state (the clean snapshot with ``task.patch``
applied). It is scored in a run *sealed* to that state (the code under test cannot read the clean
tree), with the solution applied on top — less every file diff that reaches the tests, their
configuration or the harness (``verifiers.sanitize``), which are flagged — running exactly
FAIL_TO_PASS + PASS_TO_PASS. ``score`` is pure: runs in, verdict out.

Three defences stand behind a ``resolved`` (README, "Verdicts you can trust"):

- before any run, git's own reading of the kept patch (``verifiers.git_view``) and a scan of the
  code it adds: a patch written to be read two ways, or code naming the harness, is ``tampered``;
- the run is sealed: no answer key (the clean tree, its git objects) is readable to the solution;
- a *canary*: a resolved solution is run again with another task's bug added, in files neither
  the task's bug nor the solution touch, caught by tests of this selection. Its tests must fail.
  If they pass, the solution makes tests pass whatever the code does (it lied to pytest, or
  weakened what tests compare with): ``tampered``. The canary run is the same selection, the
  same command and the same sealed layout as the scored one, so code under test cannot tell the
  two apart but by fingerprinting the tree.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from synth.envs.backend import Backend, RunRequest
from synth.patches import PatchError, combine, parse_patch, reverse_patch
from synth.records import (
    HARNESS_VERSION,
    Outcome,
    RunKind,
    Snapshot,
    SolutionFlag,
    SolutionVerdict,
    Task,
    TaskContext,
    TestOutcome,
    TestRun,
    Verdict,
    content_hash,
)
from synth.verifiers import git_view
from synth.verifiers.canary import Canary, mint, stored
from synth.verifiers.grading import passed, status_of
from synth.verifiers.runner import patch_hash, run_suite
from synth.verifiers.sanitize import Sanitized, flag_for, sanitize


def solution_id(instance_id: str, patch: str) -> str:
    return content_hash("solution", instance_id, patch, HARNESS_VERSION)


def gold_patch(task: Task) -> str:
    """The task's reference fix, against its buggy state: the bug diff reversed."""
    return reverse_patch(task.patch)


def top_level_names(snapshot: Snapshot, source_root: str) -> frozenset[str]:
    """Entries of the clean repository's root and source root (see ``sanitize``)."""
    return _top_level(snapshot.path, source_root)


@functools.lru_cache(maxsize=256)
def _top_level(path: str, source_root: str) -> frozenset[str]:
    # A snapshot never changes: read once per process, not at every verification.
    root = Path(path)
    names = {p.name for p in root.iterdir()} if root.is_dir() else set()
    if source_root not in (".", "") and (root / source_root).is_dir():
        names |= {p.name for p in (root / source_root).iterdir()}
    return frozenset(names)


def kept_patch(ctx: TaskContext, solution: str) -> Sanitized:
    """What may be kept of ``solution`` (a diff against the task's buggy state)."""
    spec = ctx.environment.spec
    return sanitize(solution, test_paths=spec.test_paths, source_root=spec.source_root,
                    top_level=top_level_names(ctx.snapshot, spec.source_root))


def tamper_evidence(ctx: TaskContext, kept: Sanitized) -> list[str]:
    """Findings that make a solution ``tampered`` before any run."""
    found = []
    if SolutionFlag.HARNESS_PROBE in kept.flags:
        found.append("the added code names the test harness's internals (its report plugin, "
                     "SYNTH_* settings, /proc or sys.modules)")
    found += weakened_comparisons(kept.patch, ctx.task.patch)
    if not kept.patch.strip():
        return found
    try:
        view = git_view.read(kept.patch)
    except git_view.Unreadable:
        return found  # git cannot read it: it will not apply either (an ERROR)
    spec = ctx.environment.spec
    top = top_level_names(ctx.snapshot, spec.source_root)
    root = Path(ctx.snapshot.path)
    known = root.is_dir()  # the snapshot on this machine: what exists can be told

    def rule(path: str, creates: bool) -> SolutionFlag | None:
        # A path the buggy state lacks is created, whatever the diff's headers say (git
        # creates a file that a traditional diff "modifies" when it is not there).
        creates = creates or (known and not os.path.lexists(root / path))
        return flag_for(path, creates=creates, test_paths=spec.test_paths,
                        source_root=spec.source_root, top_level=top)

    found += git_view.evidence(view, rule)
    return found


# A line that defines or rebinds equality: ``def __eq__``, ``__ne__ = ...``, ``"__eq__"``.
_EQUALITY = re.compile(r"""\bdef\s+__(?:eq|ne)__\b|\b__(?:eq|ne)__\s*=[^=]|["']__(?:eq|ne)__["']""")


def weakened_comparisons(patch: str, bug: str) -> list[str]:
    """Added lines that define or rebind ``__eq__`` / ``__ne__``. Tests compare results with
    ``==``: a solution that changes what compares equal can pass them with the bug in place.
    A line the task's bug removed may come back (a fix restoring a method the bug deleted)."""
    restored = {line[1:].strip() for line in bug.splitlines()
                if line.startswith("-") and not line.startswith("---")}
    return [f"it changes what compares equal: {line[1:].strip()[:120]!r}"
            for line in patch.splitlines()
            if line.startswith("+") and not line.startswith("+++")
            and _EQUALITY.search(line) and line[1:].strip() not in restored][:3]


def selection(task: Task) -> tuple[str, ...]:
    return tuple(sorted({*task.FAIL_TO_PASS, *task.PASS_TO_PASS}))


def score(task: Task, solution: str, runs: Sequence[TestRun], *,
          kept: Sanitized | None = None) -> SolutionVerdict:
    """Grade the runs of one solution. A test passes only if it passed in every run; a test
    missing from a report failed (a crash that hides a test is no pass)."""
    if not runs:
        raise ValueError("scoring needs at least one run")
    kept = kept or Sanitized(solution, (), ())
    common = dict(
        solution_id=solution_id(task.instance_id, solution),
        instance_id=task.instance_id,
        patch_hash=patch_hash(solution),
        fail_to_pass_total=len(task.FAIL_TO_PASS),
        pass_to_pass_total=len(task.PASS_TO_PASS),
        flags=kept.flags,
        dropped=kept.dropped,
        runs=len(runs),
        duration_s=round(sum(r.duration_s for r in runs), 3),
    )
    forged = [r for r in runs if r.verdict is Verdict.TAMPERED]
    if forged:
        return tampered(task, solution, kept, [r.reason for r in forged], runs=runs)
    untrusted = [r for r in runs if r.verdict not in (Verdict.PASS, Verdict.FAIL)]
    if untrusted:
        run = untrusted[0]
        return SolutionVerdict(outcome=Outcome.ERROR, reason=f"{run.verdict.value}: {run.reason}",
                               fail_to_pass_passed=0, pass_to_pass_passed=0, tests=(), **common)
    maps = [r.status_map() for r in runs]
    tests = tuple(
        TestOutcome(test_id=t, expected=expected, status=status_of(maps[0], t),
                    passed=all(passed(status_of(m, t)) for m in maps))
        for expected, ids in (("FAIL_TO_PASS", task.FAIL_TO_PASS),
                              ("PASS_TO_PASS", task.PASS_TO_PASS))
        for t in ids
    )
    f2p = sum(t.passed for t in tests if t.expected == "FAIL_TO_PASS")
    p2p = sum(t.passed for t in tests if t.expected == "PASS_TO_PASS")
    if f2p == len(task.FAIL_TO_PASS) and p2p == len(task.PASS_TO_PASS):
        outcome = Outcome.RESOLVED
    elif f2p:
        outcome = Outcome.PARTIAL
    else:
        outcome = Outcome.UNRESOLVED
    return SolutionVerdict(outcome=outcome, fail_to_pass_passed=f2p, pass_to_pass_passed=p2p,
                           tests=tests, **common)


def tampered(task: Task, solution: str, kept: Sanitized, evidence: Sequence[str], *,
             runs: Sequence[TestRun] = (), canary: str = "") -> SolutionVerdict:
    """The TAMPERED verdict: what was found, and the runs behind it (none: refused unrun)."""
    return SolutionVerdict(
        solution_id=solution_id(task.instance_id, solution), instance_id=task.instance_id,
        patch_hash=patch_hash(solution), outcome=Outcome.TAMPERED,
        reason="the solution tampers with the verdict: " + "; ".join(evidence),
        fail_to_pass_passed=0, fail_to_pass_total=len(task.FAIL_TO_PASS), pass_to_pass_passed=0,
        pass_to_pass_total=len(task.PASS_TO_PASS), tests=(), flags=kept.flags,
        dropped=kept.dropped, evidence=tuple(evidence), canary=canary, runs=len(runs),
        duration_s=round(sum(r.duration_s for r in runs), 3),
    )


def reward(verdict: SolutionVerdict, *, partial_credit: bool = False) -> float:
    """1.0 for a resolved task, else 0.0; with ``partial_credit`` the fraction of FAIL_TO_PASS
    tests fixed, scaled by the fraction of PASS_TO_PASS tests kept (breaking others costs)."""
    if verdict.outcome is Outcome.RESOLVED:
        return 1.0
    if not partial_credit or verdict.outcome in (Outcome.ERROR, Outcome.TAMPERED):
        return 0.0
    f2p = verdict.fail_to_pass_passed / max(verdict.fail_to_pass_total, 1)
    p2p = verdict.pass_to_pass_passed / max(verdict.pass_to_pass_total, 1)
    return round(f2p * (p2p if verdict.pass_to_pass_total else 1.0), 6)


def verify_solution(backend: Backend, ctx: TaskContext, solution: str, *, runs: int = 1,
                    canary: bool = True, parallel: bool = True) -> SolutionVerdict:
    """Apply and run ``solution`` in the task's sealed environment ``runs`` times, score it, and
    put a ``resolved`` to the canary. ``canary=False`` skips that run (a measurement's control).

    ``parallel``: the first canary's run goes alongside the scored run (two containers), so a
    verdict takes about one run's time; its result is dropped when the solution does not
    resolve. Off, the canary runs only behind a ``resolved`` (fewer runs: for batches whose
    workers keep every core busy already)."""
    kept = kept_patch(ctx, solution)
    evidence = tamper_evidence(ctx, kept)
    if evidence:
        return tampered(ctx.task, solution, kept, evidence)
    request = RunRequest(base=ctx.task.patch, patch=kept.patch, select=selection(ctx.task))
    birds = clear_of(canaries_for(backend, ctx), kept.patch) if canary else []
    early: TestRun | None = None
    if parallel and birds and runs == 1:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="synth-verify") as pool:
            scored = pool.submit(run_suite, backend, ctx.environment, ctx.snapshot,
                                 kind=RunKind.SOLUTION, request=request)
            ahead = pool.submit(canary_run, backend, ctx, kept, birds[0], attempt=1)
            test_runs, early = [scored.result()], ahead.result()
    else:
        test_runs = [
            run_suite(backend, ctx.environment, ctx.snapshot, kind=RunKind.SOLUTION,
                      request=request, attempt=attempt)
            for attempt in range(runs)
        ]
    verdict = score(ctx.task, solution, test_runs, kept=kept)
    if not (canary and verdict.resolved):
        return verdict
    return put_to_canary(backend, ctx, solution, kept, verdict, test_runs, birds, early)


CANARY_TRIES = 3  # canaries tried when one cannot run (its bug does not apply on this state)


def canaries_for(backend: Backend, ctx: TaskContext) -> list[Canary]:
    """The canaries to try, best first: stored tasks that cover this one (verifiers.canary),
    else one minted in the bug's own files, then stored tasks that do not cover it."""
    selected = selection(ctx.task)
    pool = stored(ctx.task, ctx.canaries, frozenset(selected))
    covering = [c for c in pool if c.covers(ctx.task)]
    rest = [c for c in pool if not c.covers(ctx.task)]
    if not covering:
        minted = mint(backend, ctx, selected)
        covering = [minted] if minted is not None else []
    return (covering + rest)[:CANARY_TRIES]


def clear_of(birds: Sequence[Canary], patch: str) -> list[Canary]:
    """``birds`` with those whose hunks come near ``patch``'s moved last (stable otherwise): a
    canary next to the fix would not apply on the fixed state, and its run would be wasted."""
    near = hunk_spans(patch)
    return sorted(birds, key=lambda b: any(
        path == other and a <= y and x <= b_end
        for path, a, b_end in hunk_spans(b.patch) for other, x, y in near))


def hunk_spans(patch: str, margin: int = 3) -> list[tuple[str, int, int]]:
    """(file, first, last) old-side lines each hunk of ``patch`` reads, widened by its context
    margin."""
    try:
        diffs = parse_patch(patch)
    except PatchError:
        return []
    return [(d.old_path, h.old_start - margin, h.old_start + h.old_count + margin)
            for d in diffs for h in d.hunks]


def canary_run(backend: Backend, ctx: TaskContext, kept: Sanitized, bird: Canary, *,
               attempt: int) -> TestRun:
    """The solution run on the task's buggy state with ``bird``'s bug added: the same
    selection, command and sealed layout as the scored run."""
    request = RunRequest(base=combine(ctx.task.patch, bird.patch), patch=kept.patch,
                         select=selection(ctx.task))
    return run_suite(backend, ctx.environment, ctx.snapshot, kind=RunKind.SOLUTION,
                     request=request, attempt=attempt)


def put_to_canary(backend: Backend, ctx: TaskContext, solution: str, kept: Sanitized,
                  verdict: SolutionVerdict, runs: Sequence[TestRun], birds: Sequence[Canary],
                  early: TestRun | None = None) -> SolutionVerdict:
    """Judge the resolved solution by its canary runs (``early``: the first one's, if it ran
    already); the tests that catch a canary must fail.

    Tampered when none of them fails — for a canary that covers the task, none of those the
    task shares with it: a forgery aimed at the task's own tests passes them whatever the code.
    An honest fix leaves the canary's bug where it was, and its tests fail as they did."""
    task = ctx.task
    for n, bird in enumerate(birds):
        run = early if n == 0 and early is not None else canary_run(
            backend, ctx, kept, bird, attempt=len(runs) + n)
        if run.verdict is Verdict.TAMPERED:
            return tampered(task, solution, kept, [run.reason], runs=[*runs, run],
                            canary=bird.name)
        if run.verdict not in (Verdict.PASS, Verdict.FAIL):
            continue  # the canary could not run here (it overlaps the fix): try the next one
        statuses = run.status_map()
        watched = bird.caught & set(task.FAIL_TO_PASS) if bird.covers(task) else bird.caught
        if all(passed(status_of(statuses, t)) for t in watched):
            missed = sorted(watched)
            return tampered(task, solution, kept, [
                f"with a canary bug added ({bird.name}), the tests that catch it still passed "
                f"({', '.join(missed[:5])}{' ...' if len(missed) > 5 else ''}): the solution "
                "makes failing tests pass whatever the code does"],
                runs=[*runs, run], canary=bird.name)
        return verdict.model_copy(update={
            "canary": bird.name, "runs": verdict.runs + n + 1,
            "duration_s": round(verdict.duration_s + run.duration_s, 3)})
    return verdict


def resolve_rate(verdicts: Collection[SolutionVerdict]) -> float:
    return sum(v.resolved for v in verdicts) / len(verdicts) if verdicts else 0.0
