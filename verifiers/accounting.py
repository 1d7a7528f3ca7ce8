"""What a task cost to make and how hard it looks: records in, a TaskStats out. No I/O.

Cost is CPU, not wall time: each run's ``cpu_s`` is what its environment's processes spent (the
container's cgroup), so two runs sharing a core each pay only their own. A run stored before CPU
was measured counts its wall seconds instead.

The environment's share (its build and the clean suite's runs, divided among its tasks) changes
as tasks are added; the store derives it when it is read (``data.store.TASK_METRICS``).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from synth.patches import PatchError, parse_patch, touched_lines
from synth.records import (
    CoverageMap,
    RunKind,
    Task,
    TaskStats,
    TestRate,
    TestRun,
)
from synth.verifiers.grading import READ, StatusMap, passed, status_of
from synth.verifiers.screening import IMPORT_CONTEXT, is_test_path, tests_covering


def run_cost(run: TestRun) -> float:
    """CPU seconds one run cost (its wall seconds where CPU was not measured)."""
    return run.cpu_s if run.cpu_s is not None else run.duration_s


def task_stats(task: Task, own_runs: Sequence[TestRun], gold_runs: Sequence[TestRun],
               coverage: CoverageMap | None = None,
               test_paths: Sequence[str] = ()) -> TaskStats:
    """``own_runs``: the task's screen and bug runs; ``gold_runs``: its environment's clean
    runs (the baseline; a coverage run is no verdict and is left out of the counts)."""
    gold = [r for r in gold_runs if r.kind is RunKind.BASELINE and r.verdict in READ]
    bug = [r for r in own_runs if r.kind is RunKind.BUG and r.verdict in READ]
    # A run that selected tests (the ones the full run broke, again alone) speaks for those
    # only: every FAIL_TO_PASS test, no PASS_TO_PASS test.
    # Each run's statuses read once: a suite of thousands of PASS_TO_PASS tests would otherwise
    # rebuild every run's map once per test (quadratic: seconds of CPU per task on idna).
    gold_maps, bug_maps = [r.status_map() for r in gold], [r.status_map() for r in bug]
    whole_maps = [m for m, r in zip(bug_maps, bug, strict=True) if r.selected is None]
    f2p = tuple(_rate(t, gold_maps, bug_maps) for t in task.FAIL_TO_PASS)
    p2p = [_rate(t, gold_maps, whole_maps) for t in task.PASS_TO_PASS]
    unsteady = tuple(r for r in p2p if r.gold_passed < r.gold_runs or r.bug_passed < r.bug_runs)
    steady = not unsteady and all(r.gold_passed == r.gold_runs and r.bug_passed == 0 for r in f2p)
    added, removed, files = _size(task.patch)
    lines = touched_lines(task.patch)
    return TaskStats(
        instance_id=task.instance_id,
        env_id=task.env_id,
        own_cpu_s=round(sum(run_cost(r) for r in own_runs), 4),
        runs=len(gold) + len(own_runs),
        gold_runs=len(gold),
        bug_runs=len(bug),
        steady=steady,
        fail_to_pass=f2p,
        unsteady_p2p=unsteady,
        lines_added=added,
        lines_removed=removed,
        files_changed=files,
        covering_tests=len(tests_covering(coverage, lines)) if coverage is not None else None,
        test_distance=distance_to_tests(lines, task.FAIL_TO_PASS),
        f2p_files_run=(_files_run(coverage, task.FAIL_TO_PASS, test_paths)
                       if coverage is not None else None),
    )


def _rate(test_id: str, gold: Iterable[StatusMap], bug: Iterable[StatusMap]) -> TestRate:
    gold_seen = [passed(status_of(m, test_id)) for m in gold]
    bug_seen = [passed(status_of(m, test_id)) for m in bug]
    return TestRate(test_id=test_id, gold_passed=sum(gold_seen), gold_runs=len(gold_seen),
                    bug_passed=sum(bug_seen), bug_runs=len(bug_seen))


def _size(patch: str) -> tuple[int, int, int]:
    """Lines added, lines removed, files changed."""
    try:
        files = parse_patch(patch)
    except PatchError:
        return 0, 0, 0
    added = sum(line.startswith("+") for f in files for h in f.hunks for line in h.lines)
    removed = sum(line.startswith("-") for f in files for h in f.hunks for line in h.lines)
    return added, removed, len(files)


def distance_to_tests(changed: dict[str, set[int]], failing: Sequence[str]) -> int | None:
    """Directory steps between a changed file and the nearest failing test's file: 0 when they
    share a folder, 1 for ``pkg/mod.py`` and ``pkg/tests/test_mod.py``, and so on."""
    test_files = {t.split("::", 1)[0] for t in failing if "::" in t}
    steps = [_steps(PurePosixPath(a).parent.parts, PurePosixPath(b).parent.parts)
             for a in changed for b in test_files]
    return min(steps) if steps else None


def _steps(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    return (len(a) - common) + (len(b) - common)


def _files_run(coverage: CoverageMap, failing: Sequence[str], test_paths: Sequence[str]) -> int:
    wanted = set(failing)
    files: dict[str, set[str]] = {t: set() for t in failing}
    for entry in coverage.entries:
        if entry.test_id in wanted and entry.test_id != IMPORT_CONTEXT \
                and not is_test_path(entry.file, test_paths):
            files[entry.test_id].add(entry.file)
    counts = [len(v) for v in files.values()]
    return int(statistics.median(counts)) if counts else 0
