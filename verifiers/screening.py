"""Coverage-guided screening and patch hygiene: which tests can see a patch, and which patches a
bug may not be. Pure functions of patch text and coverage records.

A patch is read by ``synth.patches``: the lines screening looks up in the coverage map
(``changed_lines``) are the ones mutation targeting judged worth a bug, by the same rule."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from synth.defaults import default_changes
from synth.patches import patched_files
from synth.patches import touched_lines as changed_lines  # the name the pipeline stages use
from synth.records import CoverageMap

__all__ = ["IMPORT_CONTEXT", "PER_TEST_S", "changed_defaults", "changed_lines", "covering_hits",
           "is_test_path",
           "patched_files", "screen_order", "screenable", "tests_covering", "touches_tests"]

# Files that decide how tests run, or what counts as passing: a bug must never touch them.
_TEST_CONFIG = {"conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml",
                "tox.ini", "setup.cfg", "pyproject.toml", "noxfile.py", ".coveragerc"}


def is_test_path(path: str, test_paths: Sequence[str] = ()) -> bool:
    """Tests, test helpers and the files that configure pytest (plugins included)."""
    pure = PurePosixPath(path)
    name = pure.name
    if name in _TEST_CONFIG or name.startswith(("test_", "pytest_")) or name.endswith("_test.py"):
        return True
    if any(part in {"test", "tests", "testing"} for part in pure.parts[:-1]):
        return True
    return any(path.startswith(p.rstrip("/") + "/") for p in test_paths if _is_test_dir(p))


def _is_test_dir(test_path: str) -> bool:
    """Whether a declared test path is a folder of tests (everything in it is test code), as
    opposed to the package itself (`testpaths = pkg` or `src/pkg`, whose modules are source)."""
    last = test_path.strip("/").rsplit("/", 1)[-1]
    return bool(re.match(r"^(tests?|testing|.*_tests?|tests?_.*|integration|functional)$", last))


def touches_tests(patch: str, test_paths: Sequence[str] = ()) -> list[str]:
    """The files of ``patch`` that a bug may not touch (empty when the patch is clean)."""
    return [f for f in patched_files(patch) if is_test_path(f, test_paths)]


IMPORT_CONTEXT = "<import>"  # synth_report's pseudo test id for lines run outside any test


def screenable(coverage: CoverageMap, lines: dict[str, set[int]]) -> bool:
    """False when the patch touches code that runs at import time (a decorator, a base class,
    a default value, a class body): every test depends on it, so only the full suite can tell."""
    for file, touched in lines.items():
        for test_id, ran in coverage.by_file.get(file, ()):
            if test_id == IMPORT_CONTEXT and not ran.isdisjoint(touched):
                return False
    return True


def changed_defaults(before: str, after: str) -> list[tuple[int, int]] | None:
    """When ``after`` differs from ``before`` only in literal default values of functions
    defined at import (module or class level): the first and last body line of each such
    function. None for any other change, or none.

    A default is evaluated once, when the ``def`` runs at import, so such a change falls in
    code run at import. But only calls that leave the argument out see it, and every call runs
    the body: the tests that ran the function's body are the ones that can fail. The test
    server's hot mode sets the new values on the live functions (forkserver.swap_defaults),
    reading the change with the same module (synth.defaults)."""
    changes = default_changes(before, after)
    return None if isinstance(changes, str) else [c.body for c in changes]


def tests_covering(coverage: CoverageMap, lines: dict[str, set[int]],
                   among: Iterable[str] | None = None) -> set[str]:
    return set(covering_hits(coverage, lines, among))


def covering_hits(coverage: CoverageMap, lines: dict[str, set[int]],
                  among: Iterable[str] | None = None) -> dict[str, int]:
    """test → how many of the changed lines it runs, for every test that runs one."""
    allowed = among if among is None or isinstance(among, (set, frozenset)) else set(among)
    hits: dict[str, int] = {}
    for file, touched in lines.items():
        if not touched:
            continue
        for test_id, ran in coverage.by_file.get(file, ()):
            if test_id == IMPORT_CONTEXT or (allowed is not None and test_id not in allowed):
                continue
            if n := len(ran.intersection(touched)):
                hits[test_id] = hits.get(test_id, 0) + n
    return hits


# What pytest spends on a test besides the test itself (set-up, teardown, reports), about.
PER_TEST_S = 0.001


def screen_order(hits: dict[str, int], durations: dict[str, float]) -> tuple[str, ...]:
    """The covering tests in the order a screen runs them: the cheapest likely killer first.

    A screen stops at its first failing test, so the order decides what a caught bug costs. A
    test's cost is its clean duration (plus pytest's own per test); its odds of failing grow
    with how many of the changed lines it runs. Ordering by cost over changed lines run cut the
    time to the first failure to 0.39 of the collection order's, summed over the 3,000 bugs of
    the fifteen-repository corpus (per repository 0.02 to 1.7; duration alone 0.47). Ties go by
    node id: the order is a function of the patch and the clean runs, the same on every rerun.
    """
    return tuple(sorted(hits, key=lambda t: ((durations.get(t, 0.0) + PER_TEST_S) / hits[t],
                                             t)))
