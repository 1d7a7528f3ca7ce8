"""Coverage-guided screening and patch hygiene: which tests can see a patch, and which patches a
bug may not be. Pure functions of patch text and coverage records."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from synth.records import CoverageMap

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
# Files that decide how tests run, or what counts as passing: a bug must never touch them.
_TEST_CONFIG = {"conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml",
                "tox.ini", "setup.cfg", "pyproject.toml", "noxfile.py", ".coveragerc"}


def patched_files(patch: str) -> list[str]:
    files = []
    for line in patch.splitlines():
        if line.startswith("diff --git "):
            parts = line.split()
            if len(parts) >= 4:
                files += [parts[2].removeprefix("a/"), parts[3].removeprefix("b/")]
        elif line.startswith("--- a/"):
            files.append(line[6:].strip())
        elif line.startswith("+++ b/"):
            files.append(line[6:].strip())
    return sorted(set(files))


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


def changed_lines(patch: str) -> dict[str, set[int]]:
    """Per file, the lines of the ORIGINAL file that the patch removes, or inserts code next to."""
    out: dict[str, set[int]] = {}
    current = None
    old_line = old_left = new_left = 0
    after_removal = False
    for line in patch.splitlines():
        if old_left <= 0 and new_left <= 0:  # between hunks: headers may appear
            if line.startswith("--- "):
                current = line[4:].strip().removeprefix("a/")
                continue
            match = _HUNK.match(line)
            if match:
                start, old_count = int(match.group(1)), int(match.group(2) or 1)
                old_left, new_left = old_count, int(match.group(4) or 1)
                # With no old lines the start names the line *before* the insertion.
                old_line = start + 1 if old_count == 0 else start
                after_removal = False
            continue
        if current is None or line.startswith("\\"):
            continue
        if line.startswith("-"):
            out.setdefault(current, set()).add(old_line)
            old_line += 1
            old_left -= 1
            after_removal = True
        elif line.startswith("+"):
            new_left -= 1
            if not after_removal:
                # A pure insertion sits between two original lines: either one running means
                # the inserted code would have run.
                out.setdefault(current, set()).update({max(old_line - 1, 1), old_line})
        else:
            old_line += 1
            old_left -= 1
            new_left -= 1
            after_removal = False
    return out


IMPORT_CONTEXT = "<import>"  # synth_report's pseudo test id for lines run outside any test


def screenable(coverage: CoverageMap, lines: dict[str, set[int]]) -> bool:
    """False when the patch touches code that runs at import time (a decorator, a base class,
    a default value, a class body): every test depends on it, so only the full suite can tell."""
    for entry in coverage.entries:
        if entry.test_id == IMPORT_CONTEXT and lines.get(entry.file, set()) & set(entry.lines):
            return False
    return True


def tests_covering(coverage: CoverageMap, lines: dict[str, set[int]],
                   among: Iterable[str] | None = None) -> set[str]:
    allowed = set(among) if among is not None else None
    hits = set()
    for entry in coverage.entries:
        touched = lines.get(entry.file)
        if entry.test_id != IMPORT_CONTEXT and touched and touched.intersection(entry.lines):
            if allowed is None or entry.test_id in allowed:
                hits.add(entry.test_id)
    return hits
