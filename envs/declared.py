"""What a repository declares it needs to run its tests, read the way its own tools read it.

PEP 621 dependencies and test extras, PEP 735 dependency groups, Poetry and Hatch tables,
setup.cfg / setup.py literals, requirement files, and the tox test environment (its deps, and the
extras and groups it installs). Nothing is filtered here: ``requirements_policy`` decides what
is installed. Pure: file texts in, strings out.
"""

from __future__ import annotations

import ast
import configparser
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from synth.envs.requirements_policy import canonical, poetry_constraint, poetry_requirement
from synth.envs.test_discovery import strip_factor

TEST_NAMES = ("test", "tests", "testing")
REQUIREMENT_FILES = (
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


@dataclass
class Declared:
    self_name: str = ""
    requirements: list[str] = field(default_factory=list)
    requires_python: list[tuple[str, str]] = field(default_factory=list)  # (where, specifier)
    classifiers: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


@dataclass
class ToxEnv:
    """The plain test environment of tox ([testenv] / env_run_base)."""

    deps: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    where: str = ""


class ConfigError(ValueError):
    """A config file cannot be parsed; the message names the file."""


def load_toml(text: str | None, rel: str = "pyproject.toml") -> dict:
    if not text:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{rel} is not valid TOML ({exc}); fix it in the repository") from exc


def load_ini(text: str) -> configparser.ConfigParser:
    cfg = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        cfg.read_string(text)
    except configparser.Error:
        return configparser.ConfigParser()
    return cfg


def lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def include_target(rel: str, line: str) -> str:
    """`-r other.txt` / `--requirement=other.txt` → the included path, relative to the root."""
    match = re.match(r"^(?:-r|--requirement)(?:\s+|=)?(\S+)", line)
    if not match:
        return ""
    target = re.sub(r"^\{(toxinidir|tox_root)\}/?", "", match.group(1))
    base = Path(rel).parent if not rel.startswith("tox.") else Path(".")
    return str(base / target)


def read_declared(files: Mapping[str, str], pyproject: Mapping) -> Declared:
    out = Declared()
    tox = tox_testenv(files, pyproject)
    _read_pyproject(pyproject, tox, out)
    if "setup.cfg" in files:
        _read_setup_cfg(load_ini(files["setup.cfg"]), out)
    if "setup.py" in files:
        _read_setup_py(files["setup.py"], out)
    for rel in REQUIREMENT_FILES:
        if rel in files:
            out.evidence.append(rel)
            out.requirements += requirement_lines(files[rel], rel, files)
    if tox.deps:
        out.evidence.append(f"{tox.where} deps")
        out.requirements += _tox_deps(tox.deps, files)
    return out


def _read_pyproject(pyproject: Mapping, tox: ToxEnv, out: Declared) -> None:
    project = pyproject.get("project", {})
    poetry = pyproject.get("tool", {}).get("poetry", {})
    out.self_name = canonical(project.get("name", "") or poetry.get("name", ""))
    extras = project.get("optional-dependencies", {})
    if project:
        out.evidence.append("pyproject.toml [project]")
        if project.get("requires-python"):
            out.requires_python.append(("pyproject.toml", project["requires-python"]))
        out.classifiers += project.get("classifiers", [])
        out.requirements += project.get("dependencies", [])
        wanted = [*TEST_NAMES, *tox.extras, *_hatch_features(pyproject), *_pytest_extras(extras)]
        out.requirements += expand_extras(extras, wanted, out.self_name)
    groups = _dependency_groups(pyproject, tox.groups, extras, out.self_name)
    for name, reqs in groups.items():
        out.evidence.append(f"pyproject.toml [dependency-groups] {name}")
        out.requirements += reqs
    if poetry:
        _read_poetry(poetry, out)
    _read_hatch(pyproject, out)


def _pytest_extras(extras: Mapping[str, list[str]]) -> list[str]:
    """An extra that installs pytest is clearly for the tests, whatever its name (idna: `all`)."""
    return [name for name, reqs in extras.items()
            if any(_name_of(r) in ("pytest", "pytest-cov") for r in reqs)]


def _name_of(text: str) -> str:
    try:
        return canonical(Requirement(text).name)
    except InvalidRequirement:
        return ""


def expand_extras(
    table: Mapping[str, list[str]], wanted: Iterable[str], self_name: str, depth: int = 0
) -> list[str]:
    """Requirements of the wanted extras; ``pkg[other]`` on the project itself expands ``other``."""
    out: list[str] = []
    by_name = {canonical(k): k for k in table}
    for extra in dict.fromkeys(canonical(w) for w in wanted):
        for raw in table.get(by_name.get(extra, extra), []):
            if self_name and _name_of(raw) == self_name:
                if depth < 5:
                    out += expand_extras(table, sorted(Requirement(raw).extras), self_name,
                                         depth + 1)
            else:
                out.append(raw)
    return out


def _dependency_groups(
    pyproject: Mapping, tox_groups: list[str], extras: Mapping[str, list[str]], self_name: str
) -> dict[str, list[str]]:
    """PEP 735 groups for the tests: test/tests/testing and those tox installs; `dev` only when
    there is none of those (it usually bundles linters and docs with the test tools)."""
    groups = pyproject.get("dependency-groups", {})
    by_name = {canonical(k): k for k in groups}
    chosen = [by_name[n] for n in dict.fromkeys(canonical(g) for g in (*TEST_NAMES, *tox_groups))
              if n in by_name]
    if not chosen and "dev" in by_name:
        chosen = [by_name["dev"]]
    return {name: _group(groups, by_name, name, extras, self_name, 0) for name in chosen}


def _group(groups: Mapping, by_name: Mapping[str, str], name: str,
           extras: Mapping[str, list[str]], self_name: str, depth: int) -> list[str]:
    out: list[str] = []
    for item in groups.get(name, []):
        if isinstance(item, dict) and "include-group" in item:
            target = by_name.get(canonical(item["include-group"]), "")
            if target and depth < 10:  # PEP 735 forbids cycles; the bound only guards bad files
                out += _group(groups, by_name, target, extras, self_name, depth + 1)
        elif isinstance(item, str):
            if self_name and _name_of(item) == self_name:
                out += expand_extras(extras, sorted(Requirement(item).extras), self_name)
            else:
                out.append(item)
    return out


def _read_poetry(poetry: Mapping, out: Declared) -> None:
    main = poetry.get("dependencies", {})
    if isinstance(main.get("python"), str):
        out.requires_python.append(("pyproject.toml [tool.poetry]",
                                    poetry_constraint(main["python"])))
    tables = {"[tool.poetry.dependencies]": main,
              "[tool.poetry.dev-dependencies]": poetry.get("dev-dependencies", {})}
    for group, body in poetry.get("group", {}).items():
        if canonical(group) in (*TEST_NAMES, "dev"):
            tables[f"[tool.poetry.group.{group}.dependencies]"] = body.get("dependencies", {})
    for where, table in tables.items():
        if table:
            out.evidence.append(f"pyproject.toml {where}")
            for name, value in table.items():
                out.requirements += poetry_requirement(name, value)


def _hatch_envs(pyproject: Mapping) -> list[tuple[str, Mapping]]:
    envs = pyproject.get("tool", {}).get("hatch", {}).get("envs", {})
    chosen = [n for n in envs if canonical(n) in TEST_NAMES] or (
        ["default"] if "default" in envs else [])
    return [(n, envs[n]) for n in chosen]


def _hatch_features(pyproject: Mapping) -> list[str]:
    return [f for _, env in _hatch_envs(pyproject) for f in env.get("features", [])]


def _read_hatch(pyproject: Mapping, out: Declared) -> None:
    for name, env in _hatch_envs(pyproject):
        reqs = [*env.get("dependencies", []), *env.get("extra-dependencies", [])]
        if reqs:
            out.evidence.append(f"pyproject.toml [tool.hatch.envs.{name}]")
            out.requirements += reqs


def _read_setup_cfg(cfg: configparser.ConfigParser, out: Declared) -> None:
    if cfg.has_section("options"):
        out.evidence.append("setup.cfg [options]")
        if cfg.has_option("options", "python_requires"):
            out.requires_python.append(("setup.cfg", cfg.get("options", "python_requires")))
        out.requirements += lines(cfg.get("options", "install_requires", fallback=""))
        out.requirements += lines(cfg.get("options", "tests_require", fallback=""))
    if cfg.has_section("metadata"):
        out.self_name = out.self_name or canonical(cfg.get("metadata", "name", fallback=""))
        out.classifiers += lines(cfg.get("metadata", "classifiers", fallback=""))
    if cfg.has_section("options.extras_require"):
        extras = {k: lines(v) for k, v in cfg.items("options.extras_require")}
        out.requirements += expand_extras(extras, TEST_NAMES, out.self_name)


def _read_setup_py(text: str, out: Declared) -> None:
    """Literal install_requires / tests_require / extras_require[test] from a setup() call."""
    found: list[str] = []
    for kw in _setup_keywords(text):
        try:
            value = ast.literal_eval(kw.value)
        except ValueError:
            continue
        if kw.arg == "python_requires" and isinstance(value, str):
            out.requires_python.append(("setup.py", value))
        elif kw.arg == "classifiers" and isinstance(value, list | tuple):
            out.classifiers += [str(v) for v in value]
        elif kw.arg in ("install_requires", "tests_require") and isinstance(value, list | tuple):
            found += [str(v) for v in value]
        elif kw.arg == "extras_require" and isinstance(value, dict):
            found += [str(v) for extra in TEST_NAMES for v in value.get(extra, [])]
    if found:
        out.evidence.append("setup.py (literal arguments)")
    out.requirements += found


def _setup_keywords(text: str) -> list[ast.keyword]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    return [kw for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setup"
            for kw in node.keywords]


def requirement_lines(text: str, rel: str, files: Mapping[str, str], depth: int = 0) -> list[str]:
    out: list[str] = []
    for line in lines(text):
        line = line.split(" #", 1)[0].strip()
        target = include_target(rel, line)
        if target and depth < 5:
            out += requirement_lines(files.get(target, ""), target, files, depth + 1)
        elif not line.startswith(("-", ".", "/")) and "://" not in line:
            out.append(line)
    return out


def _tox_deps(deps: list[str], files: Mapping[str, str]) -> list[str]:
    """tox deps: requirement lines and ``-r`` files; substitutions (``{[base]deps}``), editable
    and constraint lines, and files the tree lacks are skipped."""
    out: list[str] = []
    for line in deps:
        target = include_target("tox.ini", line)
        if target:
            out += requirement_lines(files.get(target, ""), target, files, 1)
        elif not line.startswith(("-", ".", "/", "{")) and "://" not in line and "{" not in line:
            out.append(line)
    return out


def tox_testenv(files: Mapping[str, str], pyproject: Mapping) -> ToxEnv:
    tox_ini = files.get("tox.ini") or pyproject.get("tool", {}).get("tox", {}).get(
        "legacy_tox_ini", "")
    if tox_ini:
        cfg = load_ini(tox_ini)
        if cfg.has_section("testenv"):
            return _tox_ini_env(cfg, "tox.ini [testenv]" if "tox.ini" in files
                                else "pyproject.toml legacy_tox_ini [testenv]")
    for rel, table in (("tox.toml", _safe_toml(files.get("tox.toml"))),
                       ("pyproject.toml [tool.tox]", pyproject.get("tool", {}).get("tox", {}))):
        base = table.get("env_run_base", {})
        if base:
            return ToxEnv(deps=[str(d) for d in base.get("deps", [])],
                          extras=[str(e) for e in base.get("extras", [])],
                          groups=[str(g) for g in base.get("dependency_groups", [])],
                          where=f"{rel} env_run_base")
    return ToxEnv()


def _safe_toml(text: str | None) -> dict:
    try:
        return load_toml(text, "tox.toml")
    except ConfigError:
        return {}


def _tox_ini_env(cfg: configparser.ConfigParser, where: str) -> ToxEnv:
    def values(key: str) -> list[str]:
        kept = [strip_factor(ln) for ln in lines(cfg.get("testenv", key, fallback=""))]
        return [v for ln in kept for v in (re.split(r"[,\s]+", ln) if key != "deps" else [ln])
                if v]

    return ToxEnv(deps=values("deps"), extras=values("extras"),
                  groups=values("dependency_groups"), where=where)
