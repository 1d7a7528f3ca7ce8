"""Mutation targets are the source files the tests import: mutating code no test reaches yields
only rejections, and tests, build scripts and docs are never mutated."""

from __future__ import annotations

import pytest

from pipelines.stages import _module_names, mutation_targets

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
    assert _module_names(path) == names


def test_tests_importing_a_module_select_that_module_only() -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/mod.py": BODY,
        "pkg/other.py": BODY,
        "tests/test_mod.py": "import pkg.mod\n\ndef test_f():\n    assert pkg.mod.f() == 1\n",
    }
    assert set(mutation_targets(files, ["tests"])) == {"pkg/mod.py"}


def test_from_imports_select_the_module_and_the_package() -> None:
    files = {
        "pkg/__init__.py": BODY,
        "pkg/mod.py": BODY,
        "pkg/other.py": BODY,
        "tests/test_mod.py": "from pkg import mod\n",
    }
    assert set(mutation_targets(files, ["tests"])) == {"pkg/__init__.py", "pkg/mod.py"}


def test_targets_keep_the_file_text() -> None:
    files = {"pkg/mod.py": BODY, "tests/test_mod.py": "from pkg.mod import f\n"}
    assert mutation_targets(files, ["tests"]) == {"pkg/mod.py": BODY}


def test_src_layout_modules_are_matched_by_their_import_name() -> None:
    files = {
        "src/pkg/__init__.py": "",
        "src/pkg/mod.py": BODY,
        "src/pkg/other.py": BODY,
        "tests/test_mod.py": "from pkg.mod import f\n",
    }
    assert set(mutation_targets(files, ["tests"])) == {"src/pkg/mod.py"}


def test_relative_imports_and_unparseable_tests_select_nothing_themselves() -> None:
    files = {
        "pkg/mod.py": BODY,
        "pkg/other.py": BODY,
        "tests/test_a.py": "from . import helpers\n",
        "tests/test_b.py": "def broken(:\n",
        "tests/test_c.py": "import pkg.other\n",
    }
    assert set(mutation_targets(files, ["tests"])) == {"pkg/other.py"}


@pytest.mark.parametrize("never", [
    "setup.py", "conftest.py", "pkg/conftest.py", "docs/conf.py", "doc/conf.py",
    "examples/demo.py", "benchmarks/bench_mod.py", "tests/helpers.py", "pkg/test_inline.py",
])
def test_tests_build_scripts_and_docs_are_never_targets(never: str) -> None:
    files = {"pkg/mod.py": BODY, never: BODY, "tests/test_mod.py": "import pkg.mod\n"}
    assert never not in mutation_targets(files, ["tests"])
    # Not even in the fallback, when no test import matches a source file.
    fallback = {"pkg/mod.py": BODY, never: BODY, "tests/test_mod.py": "import json\n"}
    assert never not in mutation_targets(fallback, ["tests"])


def test_helpers_under_a_declared_test_path_are_tests() -> None:
    files = {"pkg/mod.py": BODY, "checks/support.py": BODY, "checks/run_mod.py": "import pkg\n"}
    assert set(mutation_targets(files, ["checks"])) == {"pkg/mod.py"}


def test_all_sources_are_targets_when_no_test_import_matches() -> None:
    """A suite that imports through a plugin or runs scripts must still get candidates."""
    files = {
        "pkg/mod.py": BODY,
        "pkg/other.py": BODY,
        "setup.py": "from setuptools import setup\nsetup()\n",
        "tests/test_cli.py": "import subprocess\n",
    }
    assert set(mutation_targets(files, ["tests"])) == {"pkg/mod.py", "pkg/other.py"}


def test_a_module_whose_name_merely_ends_in_setup_is_a_target() -> None:
    files = {"pkg/db_setup.py": BODY, "pkg/other.py": BODY,
             "tests/test_db.py": "from pkg.db_setup import f\n"}
    assert set(mutation_targets(files, ["tests"])) == {"pkg/db_setup.py"}


@pytest.mark.parametrize("root", ["pkg", "src"])
def test_a_package_holding_its_own_tests_still_has_targets(root: str) -> None:
    """infer_spec returns the top folder of in-package tests (``pkg/tests/test_mod.py`` -> "pkg",
    ``src/pkg/tests/...`` -> "src"), and projects such as astropy declare ``testpaths = astropy``:
    treating all of it as tests leaves nothing to mutate."""
    prefix = "src/pkg" if root == "src" else "pkg"
    files = {f"{prefix}/__init__.py": "", f"{prefix}/mod.py": BODY,
             f"{prefix}/tests/test_mod.py": "from pkg.mod import f\n"}
    assert set(mutation_targets(files, [root])) == {f"{prefix}/mod.py"}
