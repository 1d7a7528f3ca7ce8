"""Mutation targets are the source files the tests execute (by the coverage map) or, without one,
import: mutating code no test reaches yields only rejections, and tests, build scripts and docs
are never mutated."""

from __future__ import annotations

import pytest

from synth.records import CoverageMap, CoveredLines
from synth.targeting import coverage_targets, enclosing_names, import_targets, module_names

BODY = "def f():\n    return 1\n"


@pytest.mark.parametrize(("path", "names"), [
    ("pkg/mod.py", {"pkg.mod", "mod"}),
    ("pkg/__init__.py", {"pkg"}),
    ("pkg/sub/deep.py", {"pkg.sub.deep", "sub.deep", "deep"}),
    ("src/pkg/mod.py", {"pkg.mod", "mod"}),
    ("src/pkg/__init__.py", {"pkg"}),
    ("single.py", {"single"}),
])
def test_module_names_are_every_dotted_suffix_without_src(path: str, names: set[str]) -> None:
    assert module_names(path) == names


def test_tests_importing_a_module_select_that_module_only() -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/mod.py": BODY,
        "pkg/other.py": BODY,
        "tests/test_mod.py": "import pkg.mod\n\ndef test_f():\n    assert pkg.mod.f() == 1\n",
    }
    assert set(import_targets(files, ["tests"])) == {"pkg/mod.py"}


def test_from_imports_select_the_module_and_the_package() -> None:
    files = {
        "pkg/__init__.py": BODY,
        "pkg/mod.py": BODY,
        "pkg/other.py": BODY,
        "tests/test_mod.py": "from pkg import mod\n",
    }
    assert set(import_targets(files, ["tests"])) == {"pkg/__init__.py", "pkg/mod.py"}


def test_targets_keep_the_file_text() -> None:
    files = {"pkg/mod.py": BODY, "tests/test_mod.py": "from pkg.mod import f\n"}
    assert import_targets(files, ["tests"]) == {"pkg/mod.py": BODY}


def test_src_layout_modules_are_matched_by_their_import_name() -> None:
    files = {
        "src/pkg/__init__.py": "",
        "src/pkg/mod.py": BODY,
        "src/pkg/other.py": BODY,
        "tests/test_mod.py": "from pkg.mod import f\n",
    }
    assert set(import_targets(files, ["tests"])) == {"src/pkg/mod.py"}


def test_relative_imports_and_unparseable_tests_select_nothing_themselves() -> None:
    files = {
        "pkg/mod.py": BODY,
        "pkg/other.py": BODY,
        "tests/test_a.py": "from . import helpers\n",
        "tests/test_b.py": "def broken(:\n",
        "tests/test_c.py": "import pkg.other\n",
    }
    assert set(import_targets(files, ["tests"])) == {"pkg/other.py"}


@pytest.mark.parametrize("never", [
    "setup.py", "conftest.py", "pkg/conftest.py", "docs/conf.py", "doc/conf.py",
    "examples/demo.py", "benchmarks/bench_mod.py", "tests/helpers.py", "pkg/test_inline.py",
])
def test_tests_build_scripts_and_docs_are_never_targets(never: str) -> None:
    files = {"pkg/mod.py": BODY, never: BODY, "tests/test_mod.py": "import pkg.mod\n"}
    assert never not in import_targets(files, ["tests"])
    # Not even in the fallback, when no test import matches a source file.
    fallback = {"pkg/mod.py": BODY, never: BODY, "tests/test_mod.py": "import json\n"}
    assert never not in import_targets(fallback, ["tests"])


def test_helpers_under_a_declared_test_path_are_tests() -> None:
    files = {"pkg/mod.py": BODY, "checks/support.py": BODY, "checks/run_mod.py": "import pkg\n"}
    assert set(import_targets(files, ["checks"])) == {"pkg/mod.py"}


def test_all_sources_are_targets_when_no_test_import_matches() -> None:
    """A suite that imports through a plugin or runs scripts must still get candidates."""
    files = {
        "pkg/mod.py": BODY,
        "pkg/other.py": BODY,
        "setup.py": "from setuptools import setup\nsetup()\n",
        "tests/test_cli.py": "import subprocess\n",
    }
    assert set(import_targets(files, ["tests"])) == {"pkg/mod.py", "pkg/other.py"}


def test_a_module_whose_name_merely_ends_in_setup_is_a_target() -> None:
    files = {"pkg/db_setup.py": BODY, "pkg/other.py": BODY,
             "tests/test_db.py": "from pkg.db_setup import f\n"}
    assert set(import_targets(files, ["tests"])) == {"pkg/db_setup.py"}


@pytest.mark.parametrize("root", ["pkg", "src"])
def test_a_package_holding_its_own_tests_still_has_targets(root: str) -> None:
    """infer_spec returns the top folder of in-package tests (``pkg/tests/test_mod.py`` -> "pkg",
    ``src/pkg/tests/...`` -> "src"), and projects such as astropy declare ``testpaths = astropy``:
    treating all of it as tests leaves nothing to mutate."""
    prefix = "src/pkg" if root == "src" else "pkg"
    files = {f"{prefix}/__init__.py": "", f"{prefix}/mod.py": BODY,
             f"{prefix}/tests/test_mod.py": "from pkg.mod import f\n"}
    assert set(import_targets(files, [root])) == {f"{prefix}/mod.py"}


def _coverage(*executed: tuple[str, str, tuple[int, ...]]) -> CoverageMap:
    return CoverageMap(env_id="e", entries=tuple(
        CoveredLines(test_id=test, file=file, lines=lines) for test, file, lines in executed
    ))


REEXPORT = {
    "pkg/__init__.py": "from .more import *\nfrom .other import *\n",
    "pkg/more.py": BODY,
    "pkg/other.py": BODY,
    "pkg/idle.py": BODY,
    "tests/test_pkg.py": "import pkg\n\ndef test_f():\n    assert pkg.f() == 1\n",
}


def test_a_module_the_package_re_exports_is_targeted_when_the_tests_ran_it() -> None:
    """Regression: tests that import only the top-level package (which re-exports its modules
    with ``from .more import *``) left only ``__init__.py`` as a target, and a 736-test suite
    gave 0 candidates. The coverage map sees ``pkg/more.py`` run."""
    assert set(import_targets(REEXPORT, ["tests"])) == {"pkg/__init__.py"}
    coverage = _coverage(
        ("<import>", "pkg/__init__.py", (1, 2)),
        ("tests/test_pkg.py::test_f", "pkg/more.py", (2,)),
        ("tests/test_pkg.py::test_f", "tests/test_pkg.py", (4,)),
    )
    assert coverage_targets(REEXPORT, coverage, ["tests"]) == {
        "pkg/__init__.py": REEXPORT["pkg/__init__.py"], "pkg/more.py": BODY,
    }


def test_a_file_no_test_executed_is_not_a_target() -> None:
    coverage = _coverage(("t::f", "pkg/more.py", (2,)), ("t::g", "pkg/idle.py", ()))
    targets = coverage_targets(REEXPORT, coverage, ["tests"])
    assert "pkg/idle.py" not in targets and "pkg/other.py" not in targets


def test_without_a_coverage_map_the_import_rule_applies() -> None:
    assert coverage_targets(REEXPORT, None, ["tests"]) == import_targets(REEXPORT, ["tests"])


def test_a_map_that_ran_no_source_file_falls_back_to_imports() -> None:
    """Coverage of another copy of the code (site-packages) names none of the snapshot's files:
    an empty target set would silently give no candidates."""
    coverage = _coverage(("t::f", "../site-packages/pkg/more.py", (2,)))
    assert coverage_targets(REEXPORT, coverage, ["tests"]) == {
        "pkg/__init__.py": REEXPORT["pkg/__init__.py"]
    }


@pytest.mark.parametrize("never", [
    "setup.py", "conftest.py", "pkg/conftest.py", "docs/conf.py", "examples/demo.py",
    "benchmarks/bench_mod.py", "tests/helpers.py", "pkg/test_inline.py", "checks/support.py",
])
def test_executed_tests_helpers_and_build_scripts_are_never_targets(never: str) -> None:
    files = {**REEXPORT, never: BODY, "checks/run_it.py": "import pkg\n"}
    coverage = _coverage(("t::f", "pkg/more.py", (2,)), ("t::f", never, (2,)))
    assert set(coverage_targets(files, coverage, ["tests", "checks"])) == {"pkg/more.py"}


def test_in_package_tests_leave_the_package_a_target_under_coverage() -> None:
    """``testpaths = pkg`` with tests in ``pkg/tests``: the package's own modules stay sources."""
    files = {"pkg/__init__.py": "from .mod import *\n", "pkg/mod.py": BODY,
             "pkg/tests/test_mod.py": "import pkg\n"}
    coverage = _coverage(("pkg/tests/test_mod.py::t", "pkg/mod.py", (2,)),
                         ("pkg/tests/test_mod.py::t", "pkg/tests/test_mod.py", (1,)))
    assert set(coverage_targets(files, coverage, ["pkg"])) == {"pkg/mod.py"}


def test_candidates_on_coverage_targets_come_from_executed_functions_only() -> None:
    """Within a file the coverage map already decides: ``generate(covered=...)`` keeps the
    functions whose bodies ran (``keep_entities``) and drops mutations of lines no test ran."""
    from synth.mutate import generate
    from synth.pipelines.strategies import executed_lines

    more = ("def ran(a, b):\n    c = a + b\n    return c * 2\n\n\n"
            "def idle(a, b):\n    c = a - b\n    return c * 3\n")
    files = {**REEXPORT, "pkg/more.py": more}
    coverage = _coverage(("t::f", "pkg/more.py", (2, 3)), ("<import>", "pkg/more.py", (1, 6)))
    targets = coverage_targets(files, coverage, ["tests"])
    generation = generate("snap", targets, max_candidates=50, seed=0,
                          covered=executed_lines(coverage), min_statements=2)
    assert generation.candidates
    assert {c.target_entities for c in generation.candidates} == {("ran",)}


NESTED = (
    "LIMIT = 3\n"  # 1
    "class Box:\n"  # 2
    "    size = 1\n"  # 3
    "    @staticmethod\n"  # 4
    "    def make(n):\n"  # 5
    "        def inner():\n"  # 6
    "            return n\n"  # 7
    "        return inner\n"  # 8
    "def free():\n"  # 9
    "    return LIMIT\n"  # 10
)


@pytest.mark.parametrize(("lines", "names"), [
    ({7}, ("Box.make.inner",)),  # the innermost definition around the line
    ({8}, ("Box.make",)),
    ({4}, ("Box.make",)),  # a decorator belongs to what it decorates
    ({5, 9}, ("Box.make", "free")),  # a def line, in file order
    ({3}, ("Box",)),  # a class attribute names the class
    ({10, 9, 7}, ("Box.make.inner", "free")),  # ordered by line, without repeats
    ({1}, ()),  # module level: no name
])
def test_enclosing_names_of_changed_lines(lines: set[int], names: tuple[str, ...]) -> None:
    assert enclosing_names(NESTED, lines) == names
