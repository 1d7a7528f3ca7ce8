"""Environment spec inference for standard Python projects.

Reads what the repository declares (``envs.declared``), keeps what running its tests needs
(``envs.requirements_policy``), finds the tests its maintainers run (pytest config, then the
tox / nox / Makefile / CI command, then the conventional folder: ``envs.test_discovery``), picks
the Python, and applies a per-repository override where inference cannot know better. Pure: it
takes file texts and the list of tracked paths, so it is tested on strings.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import ValidationError, field_validator

from synth.envs.declared import (
    REQUIREMENT_FILES,
    TEST_NAMES,
    ConfigError,
    include_target,
    lines,
    load_ini,
    load_toml,
    read_declared,
    tox_testenv,
)
from synth.envs.requirements_policy import (
    DEFAULT_PYTEST,
    NATIVE_CONFIG_PYTEST,
    Policy,
    apply_policy,
    canonical,
)
from synth.envs.test_discovery import (
    command_test_paths,
    conventional_test_paths,
    is_test_file,
    submodule_readers,
)
from synth.records import EnvSpec, Record

# The interpreters environments are built on: Debian bookworm's and trixie's, built the same way.
PYTHONS = ("3.11", "3.13")
PYTHON_PATCH = {"3.11": "3.11.2", "3.13": "3.13.5"}  # exact releases, for requires-python checks
PYTHON = PYTHONS[0]
TEST_EXTRAS = TEST_NAMES
__all__ = ["DEFAULT_PYTEST", "PYTHONS", "SpecError", "SpecOverride", "infer_spec",
           "load_overrides", "read_config_files", "read_test_texts"]

CONFIG_FILES = (
    "pyproject.toml",
    "setup.cfg",
    "setup.py",
    "pytest.ini",
    "tox.ini",
    "tox.toml",
    "noxfile.py",
    "Makefile",
    ".gitmodules",
    *REQUIREMENT_FILES,
)
_MAX_CONFIG_BYTES = 256 * 1024  # CI and build files are small; anything larger is not config


class SpecError(ValueError):
    """The repository cannot be run as declared; the message names the file and the fix."""


class SpecOverride(Record):
    """What inference cannot know about one repository, kept as data beside the repo's name."""

    python: str | None = None  # forces the interpreter, even against requires-python
    requirements: tuple[str, ...] = ()  # added to the inferred ones
    drop: tuple[str, ...] = ()  # requirement names removed
    pytest_args: tuple[str, ...] = ()  # appended
    test_paths: tuple[str, ...] | None = None  # replaces the inferred ones
    env: dict[str, str] = {}
    source_root: str | None = None

    @field_validator("python")
    @classmethod
    def _known_python(cls, value: str | None) -> str | None:
        if value is not None and value not in PYTHONS:
            raise ValueError(f"python must be one of {', '.join(PYTHONS)}, not {value!r}")
        return value

    @field_validator("requirements")
    @classmethod
    def _pep508(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            try:
                Requirement(text)
            except InvalidRequirement as exc:
                raise ValueError(f"{text!r} is not a PEP 508 requirement ({exc})") from exc
        return value

    @field_validator("env")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)]
        if bad:
            raise ValueError(f"not environment variable names: {', '.join(bad)}")
        return value


def load_overrides(text: str) -> dict[str, SpecOverride]:
    """Overrides keyed by repository name: ``[attrs]``, ``["my-repo"]``, one table each."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"the overrides file is not valid TOML ({exc})") from exc
    out: dict[str, SpecOverride] = {}
    known = sorted(SpecOverride.model_fields)
    for repo, table in data.items():
        if not isinstance(table, dict):
            raise SpecError(f"overrides: {repo!r} must be a table ([{repo}]) of "
                            f"{', '.join(known)}; got a {type(table).__name__}")
        unknown = sorted(set(table) - set(known))
        if unknown:
            raise SpecError(f"overrides: [{repo}] has unknown key(s) {', '.join(unknown)}; "
                            f"known keys are {', '.join(known)}")
        try:
            out[repo] = SpecOverride.model_validate(table)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise SpecError(f"overrides: [{repo}] {where}: {first['msg']}") from exc
    return out


def read_config_files(root: Path) -> dict[str, str]:
    """The config files infer_spec reads, CI workflows, and every requirements file they (or
    tox's deps) include with -r."""
    files: dict[str, str] = {}
    workflows = root / ".github" / "workflows"
    found = sorted(p.relative_to(root).as_posix() for p in workflows.glob("*.y*ml")) \
        if workflows.is_dir() else []
    _read_into(files, root, [*CONFIG_FILES, *found])
    try:
        tox = tox_testenv(files, load_toml(files.get("pyproject.toml")))
    except ConfigError:
        return files  # infer_spec reports the broken pyproject.toml
    _read_into(files, root, [t for dep in tox.deps if (t := include_target("tox.ini", dep))])
    return files


def _read_into(files: dict[str, str], root: Path, queue: list[str]) -> None:
    """Read each path of ``queue`` (inside the root, small) and the requirement files it
    includes with -r."""
    while queue:
        rel = queue.pop(0)
        path = root / rel
        if rel in files or not path.is_file() or not path.resolve().is_relative_to(root.resolve()):
            continue
        if path.stat().st_size > _MAX_CONFIG_BYTES:
            continue
        files[rel] = path.read_text(encoding="utf-8", errors="replace")
        if "requirements" in rel or rel.endswith((".txt", ".in")):
            queue += [t for line in lines(files[rel]) if (t := include_target(rel, line))]


def read_test_texts(root: Path, tree: Collection[str], limit: int = 2000) -> dict[str, str]:
    """Texts of the tracked test modules and conftest files, for the fixture checks of
    ``infer_spec`` (a dropped benchmark plugin is kept when the tests use its fixture)."""
    out: dict[str, str] = {}
    for rel in sorted(tree):
        if len(out) >= limit:
            break
        path = root / rel
        if (is_test_file(rel) or rel.endswith("conftest.py")) and path.is_file() \
                and path.stat().st_size <= _MAX_CONFIG_BYTES:
            out[rel] = path.read_text(encoding="utf-8", errors="replace")
    return out


def infer_spec(
    files: Mapping[str, str],
    tree: Collection[str],
    *,
    python: str | None = None,
    override: SpecOverride | None = None,
    test_texts: Mapping[str, str] | None = None,
) -> EnvSpec:
    """Derive an EnvSpec from config file texts (``files``) and tracked paths (``tree``).

    ``python`` forces the interpreter (a SpecError when the project excludes it); otherwise the
    first of PYTHONS the project allows is chosen. ``test_texts`` (path → text of test modules)
    lets fixture checks read the tests; without it, file names stand in.
    """
    try:
        pyproject = load_toml(files.get("pyproject.toml"))
        declared = read_declared(files, pyproject)
    except ConfigError as exc:
        raise SpecError(str(exc)) from exc
    notes: list[str] = []
    chosen = _choose_python(declared.requires_python, declared.classifiers, python, override,
                            notes)
    pytest_cfg, where, native = _pytest_config(files, pyproject)
    evidence = list(declared.evidence)
    if where:
        evidence.append(where)
    test_paths, paths_where = _test_paths(pytest_cfg, files, tree)
    if paths_where:
        evidence.append(paths_where)
    if not test_paths:
        raise SpecError(
            "found no tests: no testpaths in the pytest config, no test command naming a path, "
            "and no test_*.py / *_test.py files; a task needs the repository's own test suite"
        )
    policy = Policy(
        python_full=PYTHON_PATCH[chosen],
        self_name=declared.self_name,
        keep_benchmark=_uses_benchmark(tree, test_paths, test_texts),
        needs_py_library=_uses_py_library(test_paths, test_texts or {}),
        default_pytest=NATIVE_CONFIG_PYTEST if native else DEFAULT_PYTEST,
    )
    requirements, req_notes = apply_policy(declared.requirements, policy)
    ignores = submodule_readers(files.get(".gitmodules", ""), test_paths, test_texts or {})
    notes += [f"ignored {rel}: it reads the git submodule {sub}, which snapshots do not hold"
              for rel, sub in ignores]
    spec = EnvSpec(
        python=chosen,
        requirements=tuple(requirements),
        source_root="src" if _has_src_layout(tree) else ".",
        test_paths=tuple(test_paths),
        pytest_args=(*_pytest_args(pytest_cfg), *(f"--ignore={rel}" for rel, _ in ignores)),
        evidence=tuple(evidence),
        adjustments=(*notes, *req_notes),
    )
    return _apply_override(spec, override) if override else spec


def _choose_python(
    requires: list[tuple[str, str]],
    classifiers: list[str],
    forced: str | None,
    override: SpecOverride | None,
    notes: list[str],
) -> str:
    """The interpreter: forced (and checked), overridden (and trusted), or the first of PYTHONS
    every declared requires-python allows — 3.11 unless the project needs newer."""
    if forced is not None:
        for where, spec in requires:
            if not _allows(spec, forced):
                raise SpecError(f"{where} requires Python {spec}, but environments run Python "
                                f"{forced}; pick a commit or release that supports it")
        return forced
    if override is not None and override.python is not None:
        clash = [f"{where} declares {spec}" for where, spec in requires
                 if not _allows(spec, override.python)]
        notes.append(f"override: python {override.python}"
                     + (f" ({'; '.join(clash)})" if clash else ""))
        return override.python
    allowed = [p for p in PYTHONS if all(_allows(spec, p) for _, spec in requires)]
    if not allowed:
        where, spec = next((w, s) for w, s in requires if not any(_allows(s, p) for p in PYTHONS))
        raise SpecError(f"{where} requires Python {spec}, but environments run Python "
                        f"{' or '.join(PYTHON_PATCH[p] for p in PYTHONS)}; pick a commit or "
                        "release that supports one of them, or set `python` in an override")
    if allowed[0] != PYTHONS[0]:
        why = "; ".join(f"{w} requires {s}" for w, s in requires if not _allows(s, PYTHONS[0]))
        notes.append(f"python {allowed[0]}: {why}")
        return allowed[0]
    listed = _classifier_versions(classifiers)
    if listed and max(listed) > (3, 11) and min(listed) > (3, 11) and PYTHONS[1] in allowed:
        # requires-python says nothing against 3.11, but the project only claims newer ones.
        notes.append(f"python {PYTHONS[1]}: the classifiers list only Python "
                     f"{', '.join('.'.join(map(str, v)) for v in sorted(listed))}")
        return PYTHONS[1]
    return allowed[0]


def _allows(requires: str, python: str) -> bool:
    try:
        return SpecifierSet(requires).contains(PYTHON_PATCH.get(python, f"{python}.0"),
                                               prereleases=True)
    except InvalidSpecifier:
        return True  # an unparseable requirement is not a reason to refuse the project


def _classifier_versions(classifiers: list[str]) -> list[tuple[int, int]]:
    found = (re.fullmatch(r"Programming Language :: Python :: (\d+)\.(\d+)", c.strip())
             for c in classifiers)
    return [(int(m.group(1)), int(m.group(2))) for m in found if m]


def _pytest_config(files: Mapping[str, str], pyproject: dict) -> tuple[dict[str, str], str, bool]:
    """The one config file pytest itself would read, in its own order of precedence:
    pytest.ini (always, even empty), pyproject.toml's table, tox.ini [pytest], setup.cfg
    [tool:pytest]. The flag says the config is pytest 9's native [tool.pytest] table."""
    if "pytest.ini" in files:
        cfg = load_ini(files["pytest.ini"])
        return (dict(cfg.items("pytest")) if cfg.has_section("pytest") else {}), "pytest.ini", False
    table = pyproject.get("tool", {}).get("pytest", {})
    ini = table.get("ini_options")
    if ini is not None:
        return ({k: _as_text(v) for k, v in ini.items()},
                "pyproject.toml [tool.pytest.ini_options]", False)
    native = {k: _as_text(v) for k, v in table.items() if k != "ini_options"}
    if native:
        return native, "pyproject.toml [tool.pytest]", True
    for rel, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        if rel in files:
            cfg = load_ini(files[rel])
            if cfg.has_section(section):
                return dict(cfg.items(section)), f"{rel} [{section}]", False
    return {}, "", False


def _as_text(value: object) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _test_paths(
    pytest_cfg: Mapping[str, str], files: Mapping[str, str], tree: Collection[str]
) -> tuple[list[str], str]:
    """What the maintainers run, and where that was read ("" when the pytest config, already in
    the evidence, or the tree itself said it)."""
    declared = pytest_cfg.get("testpaths", "").split()
    present = [
        p for p in declared if any(t == p or t.startswith(p.rstrip("/") + "/") for t in tree)
    ]
    if present:
        return present, ""
    paths, where = command_test_paths(files, tree)
    if paths:
        return paths, f"{where} (test paths)"
    paths = conventional_test_paths(tree)
    if paths and "--doctest-modules" in pytest_cfg.get("addopts", "").split():
        # A bare `pytest` from the root (what "no testpaths, no paths in the command" means)
        # also collects the doctests of the package itself.
        paths = sorted({*paths, *_packages(tree)})
    return paths, ""


def _packages(tree: Collection[str]) -> list[str]:
    found = (re.match(r"^((?:src/)?[^/]+)/__init__\.py$", rel) for rel in tree)
    return [m.group(1) for m in found if m and m.group(1).rsplit("/", 1)[-1] not in TEST_NAMES]


def _uses_benchmark(
    tree: Collection[str], test_paths: list[str], test_texts: Mapping[str, str] | None
) -> bool:
    """Do the collected tests use a `benchmark` fixture (pytest-benchmark / pytest-codspeed)?
    Read from the tests' texts when given, else from their file names."""
    if test_texts is not None:
        return any("benchmark" in text for rel, text in test_texts.items()
                   if _collected(rel, test_paths))
    return any(_collected(rel, test_paths) and is_test_file(rel)
               and "bench" in rel.rsplit("/", 1)[-1] for rel in tree)


def _collected(rel: str, test_paths: Collection[str]) -> bool:
    """Is ``rel`` under one of the test paths pytest collects (``.``: the whole tree)?"""
    return any(p in (".", "") or rel == p or rel.startswith(p.rstrip("/") + "/")
               for p in test_paths)


# What pytest's `py` shim (pytest >= 7.2) leaves out: `py.path` and `py.error` are all it holds.
_PY_LIBRARY_USE = re.compile(
    r"\bpy\.(test|std|builtin|code|io|process|log|xml|iniconfig|apipkg|magic)\b")
_IMPORTS_PY = re.compile(r"^\s*import\s+py\s*(#.*)?$", re.MULTILINE)


def _uses_py_library(test_paths: list[str], test_texts: Mapping[str, str]) -> bool:
    """Does a collected test module or conftest import ``py`` and use more of it than the shim
    that pytest ships in its place? (A root conftest.py applies to every test.)"""
    return any((rel == "conftest.py" or _collected(rel, test_paths))
               and _IMPORTS_PY.search(text) and _PY_LIBRARY_USE.search(text)
               for rel, text in test_texts.items())


def _has_src_layout(tree: Collection[str]) -> bool:
    return any(re.match(r"^src/[^/]+/__init__\.py$", rel) for rel in tree)


def _pytest_args(pytest_cfg: Mapping[str, str]) -> tuple[str, ...]:
    addopts = pytest_cfg.get("addopts", "")
    kept = _filter_addopts(addopts)
    return ("-o", f"addopts={kept}") if kept != " ".join(addopts.split()) else ()


def _apply_override(spec: EnvSpec, override: SpecOverride) -> EnvSpec:
    """Apply what a maintainer of the factory wrote down for this repository; every applied
    field is an adjustment, so the user sees inference and override apart."""
    notes = list(spec.adjustments)
    update: dict[str, object] = {}
    requirements = list(spec.requirements)
    if override.drop:
        gone = {canonical(n) for n in override.drop}
        requirements = [r for r in requirements if canonical(Requirement(r).name) not in gone]
        notes.append(f"override: dropped {', '.join(override.drop)}")
    if override.requirements:
        added = {canonical(Requirement(r).name) for r in override.requirements}
        if "pytest" in added:  # the override's pytest replaces the default we added
            requirements = [r for r in requirements
                            if r not in (DEFAULT_PYTEST, NATIVE_CONFIG_PYTEST)]
        requirements += [r for r in override.requirements if r not in requirements]
        notes.append(f"override: added {', '.join(override.requirements)}")
    update["requirements"] = tuple(sorted(requirements, key=str.lower))
    if override.pytest_args:
        update["pytest_args"] = (*spec.pytest_args, *override.pytest_args)
        notes.append(f"override: pytest args {' '.join(override.pytest_args)}")
    if override.test_paths is not None:
        update["test_paths"] = override.test_paths
        notes.append(f"override: test paths {' '.join(override.test_paths)} "
                     f"(inferred {' '.join(spec.test_paths)})")
    if override.env:
        update["env"] = tuple(sorted(f"{k}={v}" for k, v in override.env.items()))
        notes.append(f"override: env {', '.join(sorted(override.env))}")
    if override.source_root is not None:
        update["source_root"] = override.source_root
        notes.append(f"override: source root {override.source_root} "
                     f"(inferred {spec.source_root})")
    update["adjustments"] = tuple(notes)
    return spec.model_copy(update=update)


# Options of the plugins dropped by the requirements policy: those that take a separate value.
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
    # Switches of the lint / type-check plugins the policy drops (pytest-mypy, pytest-ruff, ...).
    "--mypy", "--ruff", "--flake8", "--black", "--isort", "--pylint", "--checkdocs",
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
