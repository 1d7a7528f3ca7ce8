"""Environment specs come from what a repository declares, read the way pip and pytest read it.

Every case is a few config texts and a list of tracked paths: ``infer_spec`` touches no disk.
"""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from envs.spec import DEFAULT_PYTEST, SpecError, infer_spec

# A tracked tree with one test module and a flat package, enough for most cases.
TREE = ("pkg/__init__.py", "pkg/core.py", "tests/test_core.py")


def _names(requirements: tuple[str, ...]) -> list[str]:
    return [Requirement(r).name.lower() for r in requirements]


def test_pep621_dependencies_test_extra_and_dependency_group_are_all_required() -> None:
    pyproject = """
[project]
name = "demo"
dependencies = ["attrs>=22", "click"]

[project.optional-dependencies]
test = ["hypothesis"]
docs = ["sphinx"]

[dependency-groups]
test = ["freezegun", {include-group = "lint"}]
lint = ["ruff"]
"""
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert set(spec.requirements) == {"attrs>=22", "click", "hypothesis", "freezegun",
                                      DEFAULT_PYTEST}
    assert "pyproject.toml [project]" in spec.evidence


def test_setup_cfg_install_requires_test_extra_and_tool_pytest_testpaths() -> None:
    setup_cfg = """
[options]
install_requires =
    requests>=2
    # a comment line is not a requirement
    idna
[options.extras_require]
test =
    responses
docs =
    sphinx
[tool:pytest]
testpaths =
    tests
    integration
"""
    tree = (*TREE, "integration/test_live.py")
    spec = infer_spec({"setup.cfg": setup_cfg}, tree)
    assert set(spec.requirements) == {"requests>=2", "idna", "responses", DEFAULT_PYTEST}
    assert spec.test_paths == ("tests", "integration")
    assert spec.evidence == ("setup.cfg [options]", "setup.cfg [tool:pytest]")


def test_setup_py_literal_arguments_are_read_and_computed_ones_ignored() -> None:
    setup_py = """
from setuptools import setup
setup(
    name="demo",
    install_requires=["six>=1.16", "packaging"],
    extras_require={"test": ["mock"], "docs": ["sphinx"]},
    tests_require=read_requirements("dev.txt"),
)
"""
    spec = infer_spec({"setup.py": setup_py}, TREE)
    assert set(spec.requirements) == {"six>=1.16", "packaging", "mock", DEFAULT_PYTEST}
    assert spec.evidence == ("setup.py (literal arguments)",)


def test_setup_py_with_only_computed_arguments_is_not_evidence() -> None:
    setup_py = ("import setuptools\n"
                "setuptools.setup(install_requires=open('r.txt').read().split())\n")
    spec = infer_spec({"setup.py": setup_py}, TREE)
    assert spec.requirements == (DEFAULT_PYTEST,)
    assert spec.evidence == ()


def test_requirements_include_is_followed_and_editable_and_url_lines_dropped() -> None:
    files = {
        "requirements.txt": "numpy>=1.24  # pinned for the C API\n-e .\n",
        "requirements-test.txt": (
            "-r requirements.txt\n"
            "pytest-mock\n"
            "-e git+https://example.invalid/repo.git#egg=thing\n"
            "https://example.invalid/wheels/other-1.0-py3-none-any.whl\n"
            "./vendored/local_pkg\n"
            "--index-url https://example.invalid/simple\n"
        ),
    }
    spec = infer_spec(files, TREE)
    assert set(spec.requirements) == {"numpy>=1.24", "pytest-mock", DEFAULT_PYTEST}
    assert spec.evidence == ("requirements.txt", "requirements-test.txt")


def test_an_include_is_resolved_relative_to_the_including_file() -> None:
    files = {"requirements/test.txt": "-r base.txt\n", "requirements/base.txt": "pyyaml\n"}
    assert "pyyaml" in infer_spec(files, TREE).requirements


@pytest.mark.parametrize("plugin",
                         ["pytest-cov", "pytest_xdist", "coverage[toml]", "pytest-randomly"])
def test_plugins_that_change_collection_or_reporting_are_dropped(plugin: str) -> None:
    pyproject = f'[project]\nname = "demo"\ndependencies = ["{plugin}>=1", "rich"]\n'
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert set(spec.requirements) == {"rich", DEFAULT_PYTEST}


def test_coverage_and_xdist_options_are_stripped_from_addopts() -> None:
    pyproject = """
[tool.pytest.ini_options]
addopts = "--cov=pkg --cov-fail-under=90 -n auto -n4 -ra --strict-markers"
"""
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert spec.pytest_args == ("-o", "addopts=-ra --strict-markers")


def test_addopts_as_a_toml_list_is_filtered_like_a_string() -> None:
    pyproject = '[tool.pytest.ini_options]\naddopts = ["--cov", "-q"]\n'
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert spec.pytest_args == ("-o", "addopts=-q")


def test_addopts_that_need_no_filtering_are_left_to_pytest() -> None:
    """Overriding addopts that needed no change would only hide the project's own setting."""
    pyproject = '[tool.pytest.ini_options]\naddopts = "-ra   --strict-markers"\n'
    assert infer_spec({"pyproject.toml": pyproject}, TREE).pytest_args == ()


@pytest.mark.parametrize("addopts", [
    "--cov=pkg --cov-report term-missing",  # pytest-cov's own documented addopts example
    "--cov pkg",
    "-n auto --dist loadfile",
    "--numprocesses 4",
])
def test_options_of_dropped_plugins_leave_none_of_their_values_behind(addopts: str) -> None:
    """A value left behind becomes a path argument: pytest then fails with a usage error
    ("file or directory not found: term-missing") and every run of the repo is CRASHED."""
    pyproject = f'[tool.pytest.ini_options]\naddopts = "{addopts} -ra"\n'
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert spec.pytest_args == ("-o", "addopts=-ra")


def test_pytest_is_added_when_the_project_does_not_declare_it() -> None:
    spec = infer_spec({"requirements.txt": "attrs\n"}, TREE)
    assert spec.requirements == ("attrs", DEFAULT_PYTEST)


def test_a_declared_pytest_is_kept_once_and_not_replaced() -> None:
    files = {
        "pyproject.toml": '[project]\nname = "demo"\n'
                          '[project.optional-dependencies]\ntest = ["PyTest>=8.1"]\n',
        "requirements-test.txt": "pytest\n",
    }
    spec = infer_spec(files, TREE)
    assert spec.requirements == ("pytest>=8.1",)


def test_src_layout_puts_src_on_the_path() -> None:
    tree = ("src/pkg/__init__.py", "src/pkg/core.py", "tests/test_core.py")
    assert infer_spec({}, tree).source_root == "src"
    assert infer_spec({}, TREE).source_root == "."


def test_declared_testpaths_missing_from_the_tree_fall_back_to_the_conventional_folder() -> None:
    """Was: every top folder holding a test file ("pkg", "test_top.py", "tests"). A module that
    merely ends in _test inside the package, or a stray root script, is not the suite the
    maintainers run when a tests/ folder exists."""
    pytest_ini = "[pytest]\ntestpaths = test\n"
    tree = ("pkg/core.py", "tests/test_core.py", "pkg/checks_test.py", "test_top.py")
    spec = infer_spec({"pytest.ini": pytest_ini}, tree)
    assert spec.test_paths == ("tests",)


def test_only_declared_testpaths_that_exist_are_kept() -> None:
    tox_ini = "[pytest]\ntestpaths = tests gone\n"
    spec = infer_spec({"tox.ini": tox_ini}, TREE)
    assert spec.test_paths == ("tests",)
    assert spec.evidence == ("tox.ini [pytest]",)


def test_a_repository_without_tests_is_refused() -> None:
    with pytest.raises(SpecError, match="found no tests"):
        infer_spec({"requirements.txt": "attrs\n"}, ("pkg/__init__.py", "pkg/testing.py"))


@pytest.mark.parametrize(("files", "where"), [
    ({"pyproject.toml": '[project]\nname = "demo"\nrequires-python = ">=3.12"\n'},
     "pyproject.toml"),
    ({"pyproject.toml": '[project]\nname = "demo"\nrequires-python = "<3.11"\n'},
     "pyproject.toml"),
    ({"setup.cfg": "[options]\npython_requires = >=3.6, !=3.11.*\n"}, "setup.cfg"),
])
def test_a_python_requirement_excluding_a_forced_interpreter_names_its_file(
    files: dict[str, str], where: str,
) -> None:
    """Was run without ``python=``: now an unforced spec picks 3.13 for the first and third."""
    with pytest.raises(SpecError, match=rf"^{where} requires Python .*3\.11"):
        infer_spec(files, TREE, python="3.11")


def test_an_unparseable_python_requirement_is_not_a_reason_to_refuse() -> None:
    pyproject = '[project]\nname = "demo"\nrequires-python = "three-ish"\n'
    assert infer_spec({"pyproject.toml": pyproject}, TREE).python == "3.11"


def test_invalid_toml_is_a_spec_error_naming_the_file() -> None:
    with pytest.raises(SpecError, match="pyproject.toml is not valid TOML"):
        infer_spec({"pyproject.toml": "[project\nname = 'demo'\n"}, TREE)


def test_evidence_lists_every_file_that_was_read_in_reading_order() -> None:
    files = {
        "pyproject.toml": '[project]\nname = "demo"\n[tool.pytest.ini_options]\nminversion = "7"\n',
        "setup.cfg": "[options]\ninstall_requires = six\n",
        "setup.py": "from setuptools import setup\nsetup(install_requires=['idna'])\n",
        "requirements.txt": "attrs\n",
        "requirements/test.txt": "mock\n",
    }
    spec = infer_spec(files, TREE)
    assert spec.evidence == (
        "pyproject.toml [project]",
        "setup.cfg [options]",
        "setup.py (literal arguments)",
        "requirements.txt",
        "requirements/test.txt",
        "pyproject.toml [tool.pytest.ini_options]",
    )


def test_requirements_are_sorted_case_insensitively_and_independent_of_file_order() -> None:
    files = {
        "requirements.txt": "Zope.Interface\nattrs\nMarkupSafe\nbabel\n",
        "setup.cfg": "[options]\ninstall_requires =\n    yarl\n    Click\n",
    }
    spec = infer_spec(files, TREE)
    assert list(spec.requirements) == sorted(spec.requirements, key=str.lower)
    assert infer_spec(dict(reversed(list(files.items()))), TREE) == spec
    assert infer_spec(files, tuple(reversed(TREE))).spec_id == spec.spec_id


def test_the_same_package_named_twice_is_required_once() -> None:
    files = {"requirements.txt": "attrs\n", "requirements-test.txt": "Attrs\nattrs\n"}
    assert _names(infer_spec(files, TREE).requirements).count("attrs") == 1


def test_a_requirement_split_by_environment_marker_keeps_the_branch_for_our_python() -> None:
    """Projects pin one version per Python with markers; keeping only the first entry of a name
    drops the package entirely when that entry's marker is false on 3.11."""
    pyproject = """
[project]
name = "demo"
dependencies = [
    "numpy>=2; python_version >= '3.12'",
    "numpy>=1.24,<2; python_version < '3.12'",
]
"""
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert any("numpy" in r and "<2" in r for r in spec.requirements), spec.requirements


def test_the_project_never_requires_itself() -> None:
    pyproject = """
[project]
name = "demo"
dependencies = ["attrs"]
[project.optional-dependencies]
yaml = ["pyyaml"]
test = ["demo[yaml]"]
"""
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert "demo" not in _names(spec.requirements)


@pytest.mark.parametrize("files", [
    {"pyproject.toml": '[tool.pytest.ini_options]\naddopts = "-ra"\n',
     "pytest.ini": "[pytest]\naddopts = --cov=pkg -ra\n"},
    {"setup.cfg": "[tool:pytest]\naddopts = -ra\n",
     "tox.ini": "[pytest]\naddopts = --cov=pkg -ra\n"},
])
def test_pytest_config_is_read_from_the_file_pytest_itself_uses(files: dict[str, str]) -> None:
    """Reading the wrong file leaves the real config's --cov unfiltered: with pytest-cov dropped
    from the environment, every run ends in a usage error."""
    assert infer_spec(files, TREE).pytest_args == ("-o", "addopts=-ra")
