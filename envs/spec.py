"""Environment spec inference for standard Python projects.

Reads what the repository declares — pyproject.toml (PEP 621 dependencies, optional test extras,
PEP 735 dependency groups, pytest config), setup.cfg, setup.py (literal install_requires /
extras_require / tests_require), requirements files, pytest.ini / tox.ini — and turns it into an
EnvSpec. Pure: it takes file texts and the list of tracked paths, so it is tested on strings.
"""

from __future__ import annotations

import ast
import configparser
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from synth.records import EnvSpec

PYTHON = "3.11"  # the interpreter of the offline base image (Debian bookworm)
TEST_EXTRAS = ("test", "tests", "testing")
DEFAULT_PYTEST = "pytest>=7,<9"
CONFIG_FILES = (
    "pyproject.toml", "setup.cfg", "setup.py", "pytest.ini", "tox.ini",
    "requirements.txt", "requirements-test.txt", "requirements_test.txt", "test-requirements.txt",
    "test_requirements.txt", "requirements-tests.txt", "requirements/test.txt",
    "requirements/tests.txt", "requirements/testing.txt",
)
# Plugins that change how pytest collects or reports would make our per-test report disagree
# with the suite's real verdict; coverage plugins only slow runs down.
_DROPPED = {"pytest-cov", "pytest-xdist", "pytest-sugar", "pytest-randomly", "coverage"}


class SpecError(ValueError):
    """The repository cannot be run as declared; the message names the file and the fix."""


def read_config_files(root: Path) -> dict[str, str]:
    files = {}
    for rel in CONFIG_FILES:
        path = root / rel
        if path.is_file():
            files[rel] = path.read_text(encoding="utf-8", errors="replace")
    return files


def infer_spec(files: Mapping[str, str], tree: Collection[str], *, python: str = PYTHON) -> EnvSpec:
    """Derive an EnvSpec from config file texts (``files``) and tracked paths (``tree``)."""
    evidence: list[str] = []
    reqs: list[str] = []
    pytest_cfg: dict[str, str] = {}
    pyproject = _load_toml(files.get("pyproject.toml"))
    project = pyproject.get("project", {})
    if project:
        evidence.append("pyproject.toml [project]")
        _check_python(project.get("requires-python"), python, "pyproject.toml")
        reqs += project.get("dependencies", [])
        extras = project.get("optional-dependencies", {})
        for extra in TEST_EXTRAS:
            reqs += extras.get(extra, [])
    groups = pyproject.get("dependency-groups", {})
    for group in TEST_EXTRAS:
        reqs += [r for r in groups.get(group, []) if isinstance(r, str)]
    ini = pyproject.get("tool", {}).get("pytest", {}).get("ini_options")
    if ini:
        evidence.append("pyproject.toml [tool.pytest.ini_options]")
        pytest_cfg = {k: _as_text(v) for k, v in ini.items()}

    if "setup.cfg" in files:
        cfg = _load_ini(files["setup.cfg"])
        if cfg.has_section("options"):
            evidence.append("setup.cfg [options]")
            if cfg.has_option("options", "python_requires"):
                _check_python(cfg.get("options", "python_requires"), python, "setup.cfg")
            reqs += _lines(cfg.get("options", "install_requires", fallback=""))
            reqs += _lines(cfg.get("options", "tests_require", fallback=""))
        if cfg.has_section("options.extras_require"):
            for extra in TEST_EXTRAS:
                reqs += _lines(cfg.get("options.extras_require", extra, fallback=""))
        if cfg.has_section("tool:pytest") and not pytest_cfg:
            evidence.append("setup.cfg [tool:pytest]")
            pytest_cfg = dict(cfg.items("tool:pytest"))

    if "setup.py" in files:
        found = _setup_py_requirements(files["setup.py"])
        if found:
            evidence.append("setup.py (literal arguments)")
        reqs += found

    for rel in CONFIG_FILES:
        if "requirements" in rel and rel in files:
            evidence.append(rel)
            reqs += _requirement_lines(files[rel], rel, files)

    for rel, section in (("pytest.ini", "pytest"), ("tox.ini", "pytest")):
        if rel in files and not pytest_cfg:
            cfg = _load_ini(files[rel])
            if cfg.has_section(section):
                evidence.append(f"{rel} [{section}]")
                pytest_cfg = dict(cfg.items(section))

    requirements = _normalise(reqs)
    test_paths = _test_paths(pytest_cfg, tree)
    pytest_args: tuple[str, ...] = ()
    addopts = pytest_cfg.get("addopts", "")
    kept = _filter_addopts(addopts)
    if kept != " ".join(addopts.split()):
        pytest_args = ("-o", f"addopts={kept}")
    if not test_paths:
        raise SpecError(
            "found no tests: no testpaths in the pytest config and no test_*.py / *_test.py files; "
            "a task needs the repository's own test suite"
        )
    return EnvSpec(
        python=python,
        requirements=tuple(requirements),
        source_root="src" if _has_src_layout(tree) else ".",
        test_paths=tuple(test_paths),
        pytest_args=pytest_args,
        evidence=tuple(evidence),
    )


def _load_toml(text: str | None) -> dict:
    if not text:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"pyproject.toml is not valid TOML ({exc}); fix it in the repository") from exc


def _load_ini(text: str) -> configparser.ConfigParser:
    cfg = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        cfg.read_string(text)
    except configparser.Error:
        return configparser.ConfigParser()
    return cfg


def _as_text(value: object) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _requirement_lines(text: str, rel: str, files: Mapping[str, str], depth: int = 0) -> list[str]:
    out: list[str] = []
    for line in _lines(text):
        line = line.split(" #", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")) and depth < 5:
            target = str(Path(rel).parent / line.split(None, 1)[1])
            out += _requirement_lines(files.get(target, ""), target, files, depth + 1)
        elif not line.startswith(("-", ".", "/")) and "://" not in line:
            out.append(line)
    return out


def _setup_py_requirements(text: str) -> list[str]:
    """Literal install_requires / tests_require / extras_require[test] from a setup() call."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    out: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setup"):
            continue
        for kw in node.keywords:
            try:
                value = ast.literal_eval(kw.value)
            except ValueError:
                continue
            if kw.arg in ("install_requires", "tests_require") and isinstance(value, list | tuple):
                out += [str(v) for v in value]
            elif kw.arg == "extras_require" and isinstance(value, dict):
                for extra in TEST_EXTRAS:
                    out += [str(v) for v in value.get(extra, [])]
    return out


def _check_python(requires: str | None, python: str, where: str) -> None:
    if not requires:
        return
    try:
        ok = SpecifierSet(requires).contains(f"{python}.0", prereleases=True)
    except ValueError:
        return
    if not ok:
        raise SpecError(
            f"{where} requires Python {requires}, but environments run Python {python}; "
            "pick a commit or release that supports it"
        )


def _normalise(reqs: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for raw in reqs:
        try:
            req = Requirement(raw)
        except InvalidRequirement:
            continue
        key = req.name.lower().replace("_", "-")
        if key in _DROPPED or req.url:
            continue
        seen.setdefault(key, str(req))
    if "pytest" not in seen:
        seen["pytest"] = DEFAULT_PYTEST
    return sorted(seen.values(), key=str.lower)


def _test_paths(pytest_cfg: Mapping[str, str], tree: Collection[str]) -> list[str]:
    declared = pytest_cfg.get("testpaths", "").split()
    present = [p for p in declared if any(t == p or t.startswith(p.rstrip("/") + "/") for t in tree)]
    if present:
        return present
    tops: set[str] = set()
    for rel in tree:
        name = rel.rsplit("/", 1)[-1]
        if rel.endswith(".py") and re.match(r"^(test_.*|.*_test)\.py$", name):
            top = rel.split("/", 1)[0] if "/" in rel else rel
            tops.add(top)
    return sorted(tops)


def _has_src_layout(tree: Collection[str]) -> bool:
    return any(re.match(r"^src/[^/]+/__init__\.py$", rel) for rel in tree)


def _filter_addopts(addopts: str) -> str:
    """Drop options of plugins we leave out (coverage, xdist), which would be usage errors."""
    words = addopts.split()
    kept: list[str] = []
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
            continue
        if word.startswith(("--cov", "--dist", "--numprocesses", "-n=", "-p=no:randomly")):
            continue
        if word in ("-n", "--numprocesses", "--dist"):
            skip_next = True
            continue
        if word.startswith("-n") and word[2:].isdigit():
            continue
        kept.append(word)
    return " ".join(kept)
