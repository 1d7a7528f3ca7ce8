"""Environment specs come from what a repository declares, read the way pip and pytest read it.

Every case is a few config texts and a list of tracked paths: ``infer_spec`` touches no disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement

from synth.envs.requirements_policy import poetry_constraint
from synth.envs.spec import (
    DEFAULT_PYTEST,
    PYTHONS,
    SpecError,
    SpecOverride,
    infer_spec,
    load_overrides,
    read_config_files,
    read_test_texts,
)

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


# --- Python version --------------------------------------------------------------------------

@pytest.mark.parametrize(("requires", "python"), [
    (">=3.8", "3.11"), (">=3.10", "3.11"), (">=3.12", "3.13"), (">=3.6, !=3.11.*", "3.13"),
    (">=2.7, !=3.0.*, !=3.1.*, !=3.2.*", "3.11"),
])
def test_the_oldest_supported_python_the_project_allows_is_chosen(
    requires: str, python: str,
) -> None:
    pyproject = f'[project]\nname = "demo"\nrequires-python = "{requires}"\n'
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert spec.python == python
    assert (python == "3.13") == any(a.startswith("python 3.13") for a in spec.adjustments)


def test_a_project_that_allows_no_supported_python_is_refused_with_both_versions_named() -> None:
    pyproject = '[project]\nname = "demo"\nrequires-python = "<3.10"\n'
    with pytest.raises(SpecError, match=r"requires Python <3\.10.*3\.11\.2 or 3\.13\.5"):
        infer_spec({"pyproject.toml": pyproject}, TREE)


def test_classifiers_naming_only_newer_pythons_choose_313() -> None:
    setup_py = ("from setuptools import setup\nsetup(classifiers=["
                "'Programming Language :: Python :: 3.12', "
                "'Programming Language :: Python :: 3.13'])\n")
    assert infer_spec({"setup.py": setup_py}, TREE).python == "3.13"


def test_poetry_python_constraint_is_a_requires_python() -> None:
    pyproject = '[tool.poetry]\nname = "demo"\n[tool.poetry.dependencies]\npython = "^3.12"\n'
    assert infer_spec({"pyproject.toml": pyproject}, TREE).python == "3.13"


def test_pythons_are_the_two_base_interpreters() -> None:
    assert PYTHONS == ("3.11", "3.13")


# --- Test requirements a maintainer would recognise ------------------------------------------

def test_dependency_group_include_group_is_resolved_recursively() -> None:
    pyproject = """
[project]
name = "demo"
[dependency-groups]
base = ["attrs"]
mid = [{include-group = "base"}, "pympler"]
tests = [{include-group = "mid"}, "hypothesis"]
"""
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert set(_names(spec.requirements)) == {"attrs", "pympler", "hypothesis", "pytest"}
    assert "pyproject.toml [dependency-groups] tests" in spec.evidence


def test_dev_group_is_used_only_when_no_test_group_exists() -> None:
    """sqlparse keeps pytest only in `dev`, beside sphinx, furo and hatch: those are dropped."""
    dev_only = ('[project]\nname = "demo"\n[dependency-groups]\n'
                'dev = ["pytest", "sphinx", "furo", "hatch>=1.18", "ruff"]\n')
    spec = infer_spec({"pyproject.toml": dev_only}, TREE)
    assert _names(spec.requirements) == ["pytest"]
    both = ('[project]\nname = "demo"\n[dependency-groups]\n'
            'dev = ["rich"]\ntest = ["pytest-mock"]\n')
    assert "rich" not in _names(infer_spec({"pyproject.toml": both}, TREE).requirements)


def test_dependency_group_self_reference_expands_the_projects_extra() -> None:
    pyproject = """
[project]
name = "Demo_Pkg"
[project.optional-dependencies]
yaml = ["pyyaml"]
[dependency-groups]
test = ["demo-pkg[yaml]", "pytest"]
"""
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert set(_names(spec.requirements)) == {"pyyaml", "pytest"}


def test_an_extra_that_installs_pytest_is_a_test_extra_whatever_its_name() -> None:
    """idna's only test declaration is the extra `all` (ruff, mypy, pytest)."""
    pyproject = ('[project]\nname = "idna"\n[project.optional-dependencies]\n'
                 'all = ["ruff >= 0.6.2", "mypy >= 1.11.2", "pytest >= 8.3.2"]\n')
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert spec.requirements == ("pytest>=8.3.2",)
    assert any(a.startswith("dropped mypy: a type checker") for a in spec.adjustments)


def test_poetry_caret_pins_keep_the_major_version() -> None:
    """tomlkit's `pytest = "^7.2.0"` means pytest 7.x; `pytest>=7.2` would resolve pytest 9."""
    pyproject = """
[tool.poetry]
name = "tomlkit"
[tool.poetry.dependencies]
python = ">=3.9"
[tool.poetry.group.dev.dependencies]
pytest = "^7.2.0"
PyYAML = "^6.0"
mypy = "1.19.1"
"""
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert {str(Requirement(r)) for r in spec.requirements} == {
        str(Requirement("pytest>=7.2.0,<8")), str(Requirement("pyyaml>=6.0,<7"))}


@pytest.mark.parametrize(("constraint", "expected"), [
    ("^7.2", ">=7.2,<8"), ("^0.2.3", ">=0.2.3,<0.3"), ("^0.0.3", ">=0.0.3,<0.0.4"),
    ("~1.2", ">=1.2,<1.3"), ("~1.2.3", ">=1.2.3,<1.3"), ("~1", ">=1,<2"),
    ("*", ""), ("1.4", "==1.4"), (">=1.2,<2", ">=1.2,<2"), (">=1.2 <2", ">=1.2,<2"),
    ("^1.0 || ^2.0", ""),
])
def test_poetry_constraints_become_pep440(constraint: str, expected: str) -> None:
    assert poetry_constraint(constraint) == expected


def test_poetry_table_dependencies_carry_python_markers_extras_and_skip_optional_ones() -> None:
    pyproject = """
[tool.poetry]
name = "demo"
[tool.poetry.dependencies]
python = "^3.9"
tomli = {version = "^2.0", python = "<3.11"}
requests = {version = "^2.31", extras = ["socks"]}
ujson = {version = "*", optional = true}
local = {path = "../local"}
[tool.poetry.dev-dependencies]
pytest-mock = "*"
"""
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert set(_names(spec.requirements)) == {"requests", "pytest-mock", "pytest"}
    assert "requests[socks]<3,>=2.31" in spec.requirements
    assert any("dropped tomli: marker" in a for a in spec.adjustments)


def test_hatch_test_env_dependencies_and_features_are_read() -> None:
    """iniconfig declares its test dependencies only in [tool.hatch.envs.test]."""
    pyproject = """
[project]
name = "demo"
[project.optional-dependencies]
speed = ["orjson"]
[tool.hatch.envs.test]
dependencies = ["pytest", "pytest-mock"]
extra-dependencies = ["freezegun"]
features = ["speed"]
[tool.hatch.envs.lint]
dependencies = ["black"]
"""
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert set(_names(spec.requirements)) == {"pytest", "pytest-mock", "freezegun", "orjson"}
    assert "pyproject.toml [tool.hatch.envs.test]" in spec.evidence


def test_tox_deps_follow_existing_requirement_files_and_skip_what_tox_alone_understands() -> None:
    tox_ini = """
[testenv]
deps =
    -r requirements-tests39.txt
    -r missing.txt
    {[base]deps}
    -e .
    mock
    coverage: coverage
    tests: pytest-asyncio
"""
    files = {"tox.ini": tox_ini, "requirements-tests39.txt": "pytest==8.4.2\ncffi==1.17.1\n"}
    spec = infer_spec(files, TREE)
    assert set(spec.requirements) == {"pytest==8.4.2", "cffi==1.17.1", "mock", "pytest-asyncio"}
    assert "tox.ini [testenv] deps" in spec.evidence


def test_tox_extras_and_dependency_groups_name_what_the_tests_install() -> None:
    files = {
        "pyproject.toml": '[project]\nname = "demo"\n[project.optional-dependencies]\n'
                          'speed = ["orjson"]\nlint = ["flake8"]\n'
                          '[dependency-groups]\nci = ["pytest-mock"]\ntyping = ["mypy"]\n',
        "tox.ini": "[testenv]\nextras = speed\ndependency_groups =\n    tests: ci\n"
                   "    mypy: typing\n",
    }
    assert set(_names(infer_spec(files, TREE).requirements)) == {"orjson", "pytest-mock",
                                                                 "pytest"}


def test_a_marker_false_for_the_environment_python_drops_the_requirement_with_a_reason() -> None:
    files = {"requirements-test.txt": 'hypothesis==6.0; python_version == "3.9"\n'
                                      'tomli; python_version < "3.11"\nattrs; sys_platform == '
                                      '"linux"\n'}
    spec = infer_spec(files, TREE)
    assert spec.requirements == ("attrs", DEFAULT_PYTEST)
    assert any(a.startswith("dropped hypothesis: marker") and "3.11" in a
               for a in spec.adjustments)


def test_markers_are_decided_for_the_chosen_python_not_the_host() -> None:
    pyproject = ('[project]\nname = "demo"\nrequires-python = ">=3.12"\n'
                 'dependencies = ["tomli; python_version < \'3.13\'", "attrs"]\n')
    spec = infer_spec({"pyproject.toml": pyproject}, TREE)
    assert spec.python == "3.13" and "tomli" not in _names(spec.requirements)


@pytest.mark.parametrize("tool", [
    "ruff", "flake8", "flake8-bugbear", "pylint", "black", "isort", "autopep8", "pycodestyle",
    "pyflakes", "pre-commit", "mypy", "pyright", "pytype", "types-requests", "sphinx",
    "sphinx-rtd-theme", "sphinxcontrib-towncrier", "furo", "myst-parser", "mkdocs-material",
    "build", "twine", "hatch", "tox", "nox", "wheel", "check-manifest", "bump2version",
    "towncrier", "setuptools-scm", "codespell", "pytest-benchmark", "pytest-codspeed", "asv",
])
def test_tools_not_needed_to_run_tests_are_dropped_with_a_reason(tool: str) -> None:
    spec = infer_spec({"requirements-test.txt": f"{tool}>=1\nrequests\n"}, TREE)
    assert spec.requirements == (DEFAULT_PYTEST, "requests")
    assert any(a.startswith("dropped ") and ": " in a for a in spec.adjustments)


def test_libraries_that_merely_resemble_tool_names_are_kept() -> None:
    files = {"requirements-test.txt": "typing-extensions\nmypy-extensions\nwheel-filename\n"
                                      "pytest-timeout\ndocutils\n"}
    names = _names(infer_spec(files, TREE).requirements)
    assert {"typing-extensions", "mypy-extensions", "wheel-filename", "pytest-timeout",
            "docutils"} <= set(names)


def test_a_benchmark_plugin_is_kept_when_the_tests_use_its_fixture() -> None:
    """wcwidth's tests take pytest-codspeed's `benchmark` fixture: without the plugin every
    such test errors on a missing fixture."""
    files = {"requirements-test.txt": "pytest-codspeed\n"}
    texts = {"tests/test_core.py": "def test_speed(benchmark):\n    benchmark(len, 'x')\n"}
    assert "pytest-codspeed" in infer_spec(files, TREE, test_texts=texts).requirements
    assert "pytest-codspeed" not in infer_spec(
        files, TREE, test_texts={"tests/test_core.py": "def test_x(): pass\n"}).requirements


def test_without_test_texts_a_benchmark_test_module_keeps_the_plugin() -> None:
    tree = (*TREE, "tests/test_benchmarks.py")
    assert "pytest-benchmark" in infer_spec({"requirements-test.txt": "pytest-benchmark\n"},
                                            tree).requirements


def test_a_benchmark_module_outside_the_collected_tests_does_not_keep_the_plugin() -> None:
    """pluggy's testing/benchmark.py is run only by its own tox env, never by default."""
    texts = {"benchmarks/test_speed.py": "def test_s(benchmark): ...\n",
             "tests/test_core.py": "def test_x(): ...\n"}
    tree = (*TREE, "benchmarks/test_speed.py")
    assert "pytest-benchmark" not in infer_spec(
        {"requirements-test.txt": "pytest-benchmark\n"}, tree, test_texts=texts).requirements


@pytest.mark.parametrize("pin", ["pytest==6.2.5", "pytest<7", "pytest>=5,<6.3"])
def test_an_old_pytest_pin_that_cannot_run_on_311_is_relaxed(pin: str) -> None:
    spec = infer_spec({"requirements-test.txt": f"{pin}\n"}, TREE)
    assert spec.requirements == (DEFAULT_PYTEST,)
    assert any(a.startswith("relaxed pytest") for a in spec.adjustments)


def test_a_modern_pytest_pin_is_kept() -> None:
    assert infer_spec({"requirements-test.txt": "pytest==8.4.2\n"}, TREE).requirements == (
        "pytest==8.4.2",)


def test_the_native_pytest_table_needs_pytest_9() -> None:
    """attrs configures pytest in [tool.pytest] (with `strict = true`), which pytest < 9 ignores."""
    pyproject = ('[project]\nname = "demo"\n[tool.pytest]\nstrict = true\n'
                 'testpaths = ["tests"]\naddopts = ["-ra", "--cov"]\n')
    spec = infer_spec({"pyproject.toml": pyproject}, (*TREE, "tests/more/test_x.py"))
    assert spec.requirements == ("pytest>=9",)
    assert spec.test_paths == ("tests",)
    assert spec.pytest_args == ("-o", "addopts=-ra")
    assert "pyproject.toml [tool.pytest]" in spec.evidence


def test_dotted_ini_options_under_tool_pytest_are_the_ini_options_table() -> None:
    """filelock writes `ini_options.testpaths = [...]` inside [tool.pytest]."""
    pyproject = '[tool.pytest]\nini_options.testpaths = ["testing"]\n'
    tree = ("testing/test_a.py", "tests/test_b.py")
    spec = infer_spec({"pyproject.toml": pyproject}, tree)
    assert spec.test_paths == ("testing",)
    assert spec.requirements == (DEFAULT_PYTEST,)


def test_lint_plugin_switches_are_stripped_from_addopts() -> None:
    pytest_ini = "[pytest]\naddopts = --mypy --ruff --doctest-modules\n"
    assert infer_spec({"pytest.ini": pytest_ini}, TREE).pytest_args == (
        "-o", "addopts=--doctest-modules")


# --- The tests the maintainers run ----------------------------------------------------------

PROPERTY_TREE = ("pkg/__init__.py", "tests/test_core.py", "hypothesis/test_props.py",
                 "benchmarks/test_speed.py", "docs/conf.py")


def test_property_and_benchmark_folders_outside_tests_are_not_collected() -> None:
    assert infer_spec({}, PROPERTY_TREE).test_paths == ("tests",)


@pytest.mark.parametrize(("files", "where"), [
    ({"tox.ini": "[testenv]\ncommands = pytest {posargs:hypothesis}\n"}, "tox.ini"),
    ({"tox.ini": "[testenv]\ncommands =\n    tests: python -m pytest -q hypothesis/ "
                 "--durations 10\n"}, "tox.ini"),
    ({"tox.toml": '[env_run_base]\ncommands = [["pytest", {replace = "posargs", '
                  'default = ["hypothesis"]}]]\n'}, "tox.toml"),
    ({"noxfile.py": "import nox\n@nox.session\ndef tests(session):\n"
                    "    session.run('pytest', 'hypothesis', *session.posargs)\n"}, "noxfile.py"),
    ({"Makefile": "test:\n\tuv run --group dev pytest hypothesis/\n"}, "Makefile"),
    ({".github/workflows/ci.yml": "jobs:\n  t:\n    steps:\n      - run: coverage run -m "
                                  "pytest hypothesis\n"}, ".github/workflows/ci.yml"),
])
def test_the_maintainers_test_command_names_the_test_paths(files: dict[str, str],
                                                            where: str) -> None:
    spec = infer_spec(files, PROPERTY_TREE)
    assert spec.test_paths == ("hypothesis",)
    assert any(e.startswith(where) and e.endswith("(test paths)") for e in spec.evidence)


def test_a_command_without_paths_falls_back_to_the_conventional_folder() -> None:
    files = {"tox.ini": "[testenv]\ncommands = python -m pytest -rfsxX {posargs}\n"}
    assert infer_spec(files, PROPERTY_TREE).test_paths == ("tests",)


def test_declared_testpaths_win_over_commands() -> None:
    files = {"tox.ini": "[testenv]\ncommands = pytest hypothesis\n[pytest]\ntestpaths = tests\n"}
    assert infer_spec(files, PROPERTY_TREE).test_paths == ("tests",)


@pytest.mark.parametrize(("tree", "expected"), [
    (("testing/test_a.py", "src/pkg/__init__.py"), ("testing",)),
    (("test/test_a.py", "pkg/__init__.py"), ("test",)),
    (("pkg/__init__.py", "pkg/tests/__init__.py", "pkg/tests/unit/test_a.py"), ("pkg/tests",)),
    (("six.py", "test_six.py", "setup.py"), ("test_six.py",)),
])
def test_conventional_test_locations(tree: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert infer_spec({}, tree).test_paths == expected


def test_doctest_modules_without_testpaths_also_collect_the_package() -> None:
    """inflect runs bare `pytest` with --doctest-modules: the package's doctests are tests too."""
    tree = ("inflect/__init__.py", "tests/test_pwd.py", "docs/conf.py")
    pytest_ini = "[pytest]\naddopts = --doctest-modules --import-mode importlib\n"
    assert infer_spec({"pytest.ini": pytest_ini}, tree).test_paths == ("inflect", "tests")


# --- Per-repository overrides -----------------------------------------------------------------

OVERRIDES = """
[filelock]
requirements = ["pytest<9.2"]
pytest_args = ["--deselect", "tests/test_x.py::test_root_only"]

["my-repo"]
python = "3.13"
drop = ["Hypothesis"]
test_paths = ["tests/unit"]
env = {TZ = "UTC", LANG = "C.UTF-8"}
source_root = "lib"
"""


def test_overrides_are_read_per_repository_name() -> None:
    overrides = load_overrides(OVERRIDES)
    assert set(overrides) == {"filelock", "my-repo"}
    assert overrides["my-repo"].python == "3.13"
    assert overrides["filelock"].requirements == ("pytest<9.2",)


@pytest.mark.parametrize(("text", "message"), [
    ("[attrs]\npythn = '3.11'\n", r"\[attrs\] has unknown key\(s\) pythn"),
    ("[attrs]\npython = '3.9'\n", r"\[attrs\] python: .*3\.11, 3\.13"),
    ("[attrs]\nrequirements = ['not a req !']\n", r"\[attrs\] requirements"),
    ("attrs = 1\n", r"'attrs' must be a table"),
    ("[attrs\n", "not valid TOML"),
])
def test_a_bad_override_file_names_the_repository_and_key(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_overrides(text)


def test_an_override_is_applied_after_inference_and_recorded() -> None:
    override = load_overrides(OVERRIDES)["my-repo"]
    files = {"requirements-test.txt": "hypothesis\nattrs\n"}
    spec = infer_spec(files, TREE, override=override)
    assert spec.python == "3.13"
    assert "hypothesis" not in _names(spec.requirements)
    assert spec.test_paths == ("tests/unit",)
    assert spec.env == ("LANG=C.UTF-8", "TZ=UTC")
    assert spec.source_root == "lib"
    assert [a for a in spec.adjustments if a.startswith("override:")] == [
        "override: python 3.13", "override: dropped Hypothesis",
        "override: test paths tests/unit (inferred tests)", "override: env LANG, TZ",
        "override: source root lib (inferred .)"]


def test_an_override_pytest_pin_joins_the_declared_one_and_args_are_appended() -> None:
    """filelock: pytest 9.2's fd capture calls the os.fstat its tests mock; `pytest<9.2` is
    combined with the declared `pytest>=9.0.3`, and the root-only test is deselected."""
    override = load_overrides(OVERRIDES)["filelock"]
    pyproject = ('[project]\nname = "filelock"\n[dependency-groups]\ntest = ["pytest>=9.0.3"]\n'
                 '[tool.pytest]\nini_options.addopts = "--cov -ra"\n')
    spec = infer_spec({"pyproject.toml": pyproject}, TREE, override=override)
    assert set(spec.requirements) == {"pytest>=9.0.3", "pytest<9.2"}
    assert spec.pytest_args == ("-o", "addopts=-ra", "--deselect",
                                "tests/test_x.py::test_root_only")


def test_an_override_pytest_replaces_the_default_one() -> None:
    override = SpecOverride(requirements=("pytest==9.1.1",))
    assert infer_spec({}, TREE, override=override).requirements == ("pytest==9.1.1",)


def test_an_override_python_is_trusted_against_requires_python_but_a_forced_one_is_not() -> None:
    pyproject = '[project]\nname = "demo"\nrequires-python = ">=3.12"\n'
    spec = infer_spec({"pyproject.toml": pyproject}, TREE,
                      override=SpecOverride(python="3.11"))
    assert spec.python == "3.11"
    assert "override: python 3.11 (pyproject.toml declares >=3.12)" in spec.adjustments
    with pytest.raises(SpecError):
        infer_spec({"pyproject.toml": pyproject}, TREE, python="3.11")


# --- Reading the files from disk -------------------------------------------------------------

def test_read_config_files_reads_ci_commands_and_tox_requirement_files(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("run: pytest tests\n")
    (tmp_path / "tox.ini").write_text("[testenv]\ndeps = -r requirements-tests39.txt\n")
    (tmp_path / "requirements-tests39.txt").write_text("-r base.txt\npytest==8.4.2\n")
    (tmp_path / "base.txt").write_text("attrs\n")
    (tmp_path / "noxfile.py").write_text("")
    (tmp_path / "Makefile").write_text("test:\n\tpytest\n")
    (tmp_path / "huge.txt").write_text("x" * 10)
    files = read_config_files(tmp_path)
    assert set(files) == {".github/workflows/ci.yml", "tox.ini", "requirements-tests39.txt",
                          "base.txt", "noxfile.py", "Makefile"}


def test_read_test_texts_reads_test_modules_and_conftests_only(tmp_path: Path) -> None:
    for rel in ("tests/test_a.py", "tests/conftest.py", "pkg/core.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# " + rel)
    texts = read_test_texts(tmp_path, ["tests/test_a.py", "tests/conftest.py", "pkg/core.py"])
    assert set(texts) == {"tests/test_a.py", "tests/conftest.py"}


def test_a_test_module_that_reads_a_missing_git_submodule_is_ignored() -> None:
    """tomlkit's tests/test_toml_tests.py lists tests/toml-test (a submodule) at import time:
    without the submodule the whole run ends in a collection error."""
    files = {".gitmodules": '[submodule "tests/toml-test"]\n\tpath = tests/toml-test\n'
                            "\turl = https://example.invalid/toml-test.git\n"}
    texts = {"tests/test_toml_tests.py": 'ROOT = os.path.join(HERE, "toml-test", "tests")\n',
             "tests/test_core.py": "def test_x(): ...\n"}
    tree = (*TREE, "tests/test_toml_tests.py", "tests/toml-test")
    spec = infer_spec(files, tree, test_texts=texts)
    assert spec.pytest_args == ("--ignore=tests/test_toml_tests.py",)
    assert any(a.startswith("ignored tests/test_toml_tests.py") for a in spec.adjustments)


def test_a_submodule_outside_the_test_paths_ignores_nothing() -> None:
    """wcwidth's ucs-detect submodule sits at the root and a test merely mentions its name."""
    files = {".gitmodules": '[submodule "ucs-detect"]\n\tpath = ucs-detect\n'}
    texts = {"tests/test_core.py": "msg = 'a ucs-detect measurement error'\n"}
    assert infer_spec(files, TREE, test_texts=texts).pytest_args == ()


def test_tests_that_use_the_py_library_get_it() -> None:
    """iniconfig's suite before 2020 calls `py.test.raises`: pytest 7.2+ ships a `py` shim of
    py.path and py.error alone, so without the library every module fails to collect."""
    texts = {"tests/test_core.py": "import py\n\n\ndef test_x():\n"
                                   "    with py.test.raises(ValueError):\n        int('x')\n"}
    spec = infer_spec({}, TREE, test_texts=texts)
    assert "py>=1.11" in spec.requirements
    assert any(a.startswith("added py>=1.11: the tests use `py.test`") for a in spec.adjustments)


@pytest.mark.parametrize("text", [
    "import py\n\ndef test_p(tmpdir):\n    assert isinstance(tmpdir, py.path.local)\n",  # the shim
    "import pytest\n\ndef test_x():\n    with pytest.raises(ValueError):\n        int('x')\n",
    "import numpy\n\ndef test_x():\n    numpy.test\n",  # names ending in py are not py
    "def test_x():\n    assert 'py.test' in 'use py.test to run'\n",  # no import of py
])
def test_tests_that_need_no_more_than_the_shim_get_no_py_library(text: str) -> None:
    spec = infer_spec({}, TREE, test_texts={"tests/test_core.py": text})
    assert "py" not in _names(spec.requirements)


def test_a_declared_py_requirement_is_left_as_declared() -> None:
    texts = {"tests/test_core.py": "import py\npy.std.sys\n"}
    spec = infer_spec({"requirements-test.txt": "py==1.10.0\n"}, TREE, test_texts=texts)
    assert "py==1.10.0" in spec.requirements and "py>=1.11" not in spec.requirements
