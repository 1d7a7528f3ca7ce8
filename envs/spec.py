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
PYTHON_PATCH = {"3.11": "3.11.2"}  # bookworm's exact release, for requires-python checks
TEST_EXTRAS = ("test", "tests", "testing")
DEFAULT_PYTEST = "pytest>=7,<9"
CONFIG_FILES = (
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "pytest.ini",
    "tox.ini",
    "requirements.txt",
    "requirements-test.txt",
    "requirements_test.txt",
    "test-requirements.txt",
    "test_requirements.txt",
    "requirements-tests.txt",
    "requirements/test.txt",
    "requirements/tests.txt",
    "requirements/testing.txt",
)
# Plugins that change how pytest collects or reports would make our per-test report disagree
# with the suite's real verdict; coverage plugins only slow runs down.
_DROPPED = {"pytest-cov", "pytest-xdist", "pytest-sugar", "pytest-randomly", "coverage"}


class SpecError(ValueError):
    """The repository cannot be run as declared; the message names the file and the fix."""


def read_config_files(root: Path) -> dict[str, str]:
    """The config files infer_spec reads, plus any requirements file they include with -r."""
    files: dict[str, str] = {}
    queue = list(CONFIG_FILES)
    while queue:
        rel = queue.pop(0)
        path = root / rel
        if rel in files or not path.is_file() or not path.resolve().is_relative_to(root.resolve()):
            continue
        files[rel] = path.read_text(encoding="utf-8", errors="replace")
        if "requirements" in rel or rel.endswith(".txt"):
            queue += [
                _include_target(rel, line)
                for line in _lines(files[rel])
                if _include_target(rel, line)
            ]
    return files


def _include_target(rel: str, line: str) -> str:
    """`-r other.txt` / `--requirement=other.txt` → the included path, relative to the root."""
    match = re.match(r"^(?:-r|--requirement)(?:\s+|=)(\S+)", line)
    return str(Path(rel).parent / match.group(1)) if match else ""


def infer_spec(files: Mapping[str, str], tree: Collection[str], *, python: str = PYTHON) -> EnvSpec:
    """Derive an EnvSpec from config file texts (``files``) and tracked paths (``tree``)."""
    evidence: list[str] = []
    reqs: list[str] = []
    pyproject = _load_toml(files.get("pyproject.toml"))
    project = pyproject.get("project", {})
    self_name = _canonical(project.get("name", "")) if project else ""
    if project:
        evidence.append("pyproject.toml [project]")
        _check_python(project.get("requires-python"), python, "pyproject.toml")
        reqs += project.get("dependencies", [])
        reqs += _extras(project.get("optional-dependencies", {}), TEST_EXTRAS, self_name)
    groups = pyproject.get("dependency-groups", {})
    for group in TEST_EXTRAS:
        reqs += [r for r in groups.get(group, []) if isinstance(r, str)]

    if "setup.cfg" in files:
        cfg = _load_ini(files["setup.cfg"])
        if cfg.has_section("options"):
            evidence.append("setup.cfg [options]")
            if cfg.has_option("options", "python_requires"):
                _check_python(cfg.get("options", "python_requires"), python, "setup.cfg")
            reqs += _lines(cfg.get("options", "install_requires", fallback=""))
            reqs += _lines(cfg.get("options", "tests_require", fallback=""))
        if cfg.has_section("metadata") and not self_name:
            self_name = _canonical(cfg.get("metadata", "name", fallback=""))
        if cfg.has_section("options.extras_require"):
            extras = {k: _lines(v) for k, v in cfg.items("options.extras_require")}
            reqs += _extras(extras, TEST_EXTRAS, self_name)

    if "setup.py" in files:
        found = _setup_py_requirements(files["setup.py"], python)
        if found:
            evidence.append("setup.py (literal arguments)")
        reqs += found

    for rel in CONFIG_FILES:
        if "requirements" in rel and rel in files:
            evidence.append(rel)
            reqs += _requirement_lines(files[rel], rel, files)

    pytest_cfg, where = _pytest_config(files, pyproject)
    if where:
        evidence.append(where)
    requirements = _normalise(reqs, self_name)
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


def _pytest_config(files: Mapping[str, str], pyproject: dict) -> tuple[dict[str, str], str]:
    """The one config file pytest itself would read, in its own order of precedence:
    pytest.ini (always, even empty), pyproject.toml's table, tox.ini [pytest], setup.cfg
    [tool:pytest]."""
    if "pytest.ini" in files:
        cfg = _load_ini(files["pytest.ini"])
        return (dict(cfg.items("pytest")) if cfg.has_section("pytest") else {}), "pytest.ini"
    ini = pyproject.get("tool", {}).get("pytest", {}).get("ini_options")
    if ini is not None:
        return {k: _as_text(v) for k, v in ini.items()}, "pyproject.toml [tool.pytest.ini_options]"
    for rel, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        if rel in files:
            cfg = _load_ini(files[rel])
            if cfg.has_section(section):
                return dict(cfg.items(section)), f"{rel} [{section}]"
    return {}, ""


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _extras(
    table: Mapping[str, list[str]], wanted: Iterable[str], self_name: str, depth: int = 0
) -> list[str]:
    """Requirements of the wanted extras; ``pkg[other]`` on the project itself expands ``other``."""
    out: list[str] = []
    for extra in wanted:
        for raw in table.get(extra, []):
            try:
                req = Requirement(raw)
            except InvalidRequirement:
                continue
            if self_name and _canonical(req.name) == self_name:
                if depth < 5:
                    out += _extras(table, sorted(req.extras), self_name, depth + 1)
            else:
                out.append(raw)
    return out


def _load_toml(text: str | None) -> dict:
    if not text:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(
            f"pyproject.toml is not valid TOML ({exc}); fix it in the repository"
        ) from exc


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
        target = _include_target(rel, line)
        if target and depth < 5:
            out += _requirement_lines(files.get(target, ""), target, files, depth + 1)
        elif not line.startswith(("-", ".", "/")) and "://" not in line:
            out.append(line)
    return out


def _setup_py_requirements(text: str, python: str = PYTHON) -> list[str]:
    """Literal install_requires / tests_require / extras_require[test] from a setup() call."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    out: list[str] = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setup"
        ):
            continue
        for kw in node.keywords:
            try:
                value = ast.literal_eval(kw.value)
            except ValueError:
                continue
            if kw.arg == "python_requires" and isinstance(value, str):
                _check_python(value, python, "setup.py")
            elif kw.arg in ("install_requires", "tests_require") and isinstance(
                value, list | tuple
            ):
                out += [str(v) for v in value]
            elif kw.arg == "extras_require" and isinstance(value, dict):
                for extra in TEST_EXTRAS:
                    out += [str(v) for v in value.get(extra, [])]
    return out


def _check_python(requires: str | None, python: str, where: str) -> None:
    if not requires:
        return
    try:
        ok = SpecifierSet(requires).contains(
            PYTHON_PATCH.get(python, f"{python}.0"), prereleases=True
        )
    except ValueError:
        return
    if not ok:
        raise SpecError(
            f"{where} requires Python {requires}, but environments run Python {python}; "
            "pick a commit or release that supports it"
        )


def _normalise(reqs: Iterable[str], self_name: str = "") -> list[str]:
    """Distinct requirements, sorted. A name may appear several times with different markers,
    extras or constraints, and pip combines them, so all are kept — except a bare name that
    another entry for the same package already covers."""
    by_name: dict[str, dict[str, Requirement]] = {}
    for raw in reqs:
        try:
            req = Requirement(raw)
        except InvalidRequirement:
            continue
        name = _canonical(req.name)
        if name in _DROPPED or req.url or (self_name and name == self_name):
            continue
        req.name = name
        by_name.setdefault(name, {}).setdefault(str(req), req)
    out: list[str] = []
    for variants in by_name.values():
        bare = [k for k, r in variants.items() if not (r.specifier or r.extras or r.marker)]
        keep = [k for k in variants if k not in bare] or bare[:1]
        out += keep
    if "pytest" not in by_name:
        out.append(DEFAULT_PYTEST)
    return sorted(out, key=str.lower)


def _test_paths(pytest_cfg: Mapping[str, str], tree: Collection[str]) -> list[str]:
    declared = pytest_cfg.get("testpaths", "").split()
    present = [
        p for p in declared if any(t == p or t.startswith(p.rstrip("/") + "/") for t in tree)
    ]
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


# Options of the plugins in _DROPPED: those that take a separate value, and those that don't.
_VALUED = {
    "--cov",
    "--cov-report",
    "--cov-config",
    "--cov-fail-under",
    "--cov-context",
    "-n",
    "--numprocesses",
    "--dist",
    "--maxprocesses",
    "-p",
    "--randomly-seed",
    "--maxfail",
}
_DROPPED_PREFIXES = (
    "--cov",
    "--no-cov",
    "--dist",
    "--numprocesses",
    "--maxprocesses",
    "--randomly",
    "-p=no:randomly",
    "--looponfail",
    "--tx",
    # Options that stop a run early or choose tests by the last run's history: with them a
    # report cannot list every test, and a missing test would read as a failure.
    "--exitfirst", "--maxfail", "--sw", "--stepwise", "--lf", "--last-failed", "--ff",
    "--failed-first", "--nf", "--new-first",
)


def _filter_addopts(addopts: str) -> str:
    """Drop options of plugins we leave out (coverage, xdist, randomly): with the plugin gone
    they are usage errors, and a value left behind would be read as a test path."""
    words = addopts.split()
    kept: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if word == "-p" and nxt is not None:
            if nxt.removeprefix("no:") in ("cov", "xdist", "randomly", "pytest_cov"):
                i += 2
                continue
            kept += [word, nxt]
            i += 2
            continue
        if word in _VALUED and word != "-p":
            # --cov may stand alone (then it measures everything): only eat a real value.
            takes = nxt is not None and not (word == "--cov" and nxt.startswith("-"))
            i += 2 if takes else 1
            continue
        if (word.startswith(_DROPPED_PREFIXES) or word == "-x"
                or (word.startswith("-n") and word[2:].isdigit())):
            i += 1
            continue
        kept.append(word)
        i += 1
    return " ".join(kept)
