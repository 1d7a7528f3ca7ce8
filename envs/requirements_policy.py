"""Which of a project's declared requirements a test environment installs, and in what form.

Projects declare far more than their tests need: linters, type checkers, docs builders, release
tools, coverage, old pins written for another Python. Each of those costs a resolution that can
fail (an unbuildable sdist, a pin with no wheel for our Python) and buys nothing for running the
tests, so they are dropped here — each with the reason, so a user can see what was changed.
Pure: strings in, strings out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

DEFAULT_PYTEST = "pytest>=7,<9"
# Older suites call `py.test.raises`, `py.std`, `py.builtin`...: the py library, which pytest
# before 7.2 depended on. Its last release maps `py.test` to pytest and runs on Python 3.11+.
PY_LIBRARY = "py>=1.11"
# The native [tool.pytest] table (and its `strict` key) is read only by pytest 9 and later.
NATIVE_CONFIG_PYTEST = "pytest>=9"
# pytest releases that run on Python 3.11+; a declared range admitting none of them is an old pin.
_MODERN_PYTESTS = tuple(Version(v) for v in ("7.0", "7.4.4", "8.0", "8.4.2", "9.0", "9.1"))

_COLLECTION = "changes how tests are collected, ordered or reported, or only measures coverage"
_LINT = "a linter or formatter, not needed to run tests"
_LINT_PLUGIN = "a pytest plugin that adds lint or type checks as test items"
_TYPES = "a type checker, not needed to run tests"
_DOCS = "a documentation tool, not needed to run tests"
_RELEASE = "a packaging, release or development tool, not needed to run tests"
_BENCH = "a benchmark tool, and no test uses a benchmark fixture"

# Exact (canonical) names and name prefixes per reason. Prefixes catch families whose members
# all share the purpose (flake8-*, sphinx-*, types-*), never a library a test could import.
_DROP_NAMES: dict[str, str] = {
    **dict.fromkeys(("pytest-cov", "pytest-xdist", "pytest-sugar", "pytest-randomly", "coverage",
                     "covdefaults", "diff-cover", "pytest-instafail"), _COLLECTION),
    **dict.fromkeys(("ruff", "flake8", "pylint", "black", "isort", "autopep8", "pycodestyle",
                     "pyflakes", "pre-commit", "pre-commit-uv", "prek", "pydocstyle",
                     "docformatter", "codespell", "proselint", "yapf", "bandit", "pyupgrade",
                     "blacken-docs", "doc8"), _LINT),
    **dict.fromkeys(("pytest-mypy", "pytest-mypy-plugins", "pytest-mypy-testing", "pytest-ruff",
                     "pytest-flake8", "pytest-pylint", "pytest-black", "pytest-isort",
                     "pytest-checkdocs", "pytest-enabler", "pytest-pycodestyle"), _LINT_PLUGIN),
    **dict.fromkeys(("mypy", "pyright", "basedpyright", "pytype", "ty", "pyrefly"), _TYPES),
    **dict.fromkeys(("sphinx", "furo", "myst-parser", "mkdocs", "alabaster",
                     "pallets-sphinx-themes", "cogapp", "restview"), _DOCS),
    **dict.fromkeys(("build", "twine", "hatch", "hatchling", "tox", "nox", "wheel",
                     "check-manifest", "towncrier", "setuptools-scm", "uv", "pip-tools",
                     "check-wheel-contents", "pyroma", "flit", "poetry", "zest-releaser",
                     "validate-pyproject", "readme-renderer"), _RELEASE),
    **dict.fromkeys(("pytest-benchmark", "pytest-codspeed", "asv"), _BENCH),
}
_DROP_PREFIXES: tuple[tuple[str, str], ...] = (
    ("flake8-", _LINT),
    ("types-", _TYPES),
    ("sphinx-", _DOCS), ("sphinxcontrib-", _DOCS), ("sphinxext-", _DOCS), ("mkdocs-", _DOCS),
    ("mkdocstrings", _DOCS),
    ("tox-", _RELEASE), ("bump", _RELEASE), ("hatch-", _RELEASE), ("jaraco-develop", _RELEASE),
)
# Plugins that provide the `benchmark` fixture: kept when the tests use it, or they fail on a
# missing fixture.
BENCHMARK_FIXTURE_PLUGINS = frozenset({"pytest-benchmark", "pytest-codspeed"})


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def drop_reason(name: str) -> str | None:
    """Why a requirement named ``name`` is not installed, or None when it is."""
    name = canonical(name)
    if name in _DROP_NAMES:
        return _DROP_NAMES[name]
    return next((why for prefix, why in _DROP_PREFIXES if name.startswith(prefix)), None)


def marker_environment(python_full: str) -> dict[str, str]:
    """The marker variables of the environments we build: CPython ``python_full`` on x86_64 Linux.
    Every key is set, so nothing leaks in from the host interpreter evaluating the marker."""
    return {
        "implementation_name": "cpython",
        "implementation_version": python_full,
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": python_full,
        "python_version": ".".join(python_full.split(".")[:2]),
        "sys_platform": "linux",
        "extra": "",
    }


@dataclass(frozen=True)
class Policy:
    python_full: str  # "3.11.2": markers are decided for this interpreter
    self_name: str = ""  # the project itself is installed from its working copy, never resolved
    keep_benchmark: bool = False  # the tests use the `benchmark` fixture
    # The tests use the `py` library beyond what pytest's own `py` shim holds (see PY_LIBRARY).
    needs_py_library: bool = False
    default_pytest: str = DEFAULT_PYTEST


def apply_policy(raw: Iterable[str], policy: Policy) -> tuple[list[str], list[str]]:
    """The requirements to resolve (distinct, sorted) and one adjustment line per change."""
    notes: list[str] = []
    kept: list[Requirement] = []
    for text in raw:
        req = _decide(text, policy, notes)
        if req is not None:
            kept.append(req)
    out = _distinct(kept)
    if not any(Requirement(r).name == "pytest" for r in out):
        out.append(policy.default_pytest)
    if policy.needs_py_library and not any(Requirement(r).name == "py" for r in out):
        out.append(PY_LIBRARY)
        notes.append(f"added {PY_LIBRARY}: the tests use `py.test` or another part of the py "
                     "library, which pytest installed until 7.2 and now replaces with a shim "
                     "of py.path and py.error alone")
    return sorted(out, key=str.lower), _unique(notes)


def _decide(text: str, policy: Policy, notes: list[str]) -> Requirement | None:
    """One declared requirement: parsed, its marker decided, dropped or relaxed by the rules."""
    try:
        req = Requirement(text)
    except InvalidRequirement:
        notes.append(f"ignored {text!r}: not a PEP 508 requirement")
        return None
    name = canonical(req.name)
    if policy.self_name and name == policy.self_name:
        return None  # the project's own extras were expanded where they were read
    if req.url:
        notes.append(f"dropped {name}: a direct URL reference ({req.url}) is not resolved")
        return None
    if req.marker is not None:
        decided = _evaluate(req.marker, policy.python_full)
        if decided is False:
            notes.append(f"dropped {name}: marker `{req.marker}` is false on Python "
                         f"{policy.python_full} (Linux, CPython)")
            return None
        if decided is True:
            req.marker = None  # the environment is fixed, so the marker is decided here
    why = drop_reason(name)
    if why and not (policy.keep_benchmark and name in BENCHMARK_FIXTURE_PLUGINS):
        notes.append(f"dropped {name}: {why}")
        return None
    req.name = name
    if name == "pytest" and _is_old_pytest_pin(req):
        # Dropped here, so the default range is added below unless another entry names pytest.
        notes.append(f"relaxed {req} to {policy.default_pytest}: pytest before 7 does not run "
                     "on Python 3.11+")
        return None
    return req


def _evaluate(marker: Marker, python_full: str) -> bool | None:
    """True/False for our environment; None when the marker cannot be decided (kept for pip)."""
    try:
        return marker.evaluate(marker_environment(python_full))
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
        return None


def _is_old_pytest_pin(req: Requirement) -> bool:
    spec = req.specifier
    return bool(str(spec)) and not any(spec.contains(v, prereleases=True) for v in _MODERN_PYTESTS)


def _distinct(reqs: Iterable[Requirement]) -> list[str]:
    """A name may appear several times with different constraints or extras, and pip combines
    them, so all are kept — except a bare name that another entry already covers."""
    by_name: dict[str, dict[str, Requirement]] = {}
    for req in reqs:
        by_name.setdefault(req.name, {}).setdefault(str(req), req)
    out: list[str] = []
    for variants in by_name.values():
        bare = [k for k, r in variants.items() if not (r.specifier or r.extras or r.marker)]
        out += [k for k in variants if k not in bare] or bare[:1]
    return out


def _unique(notes: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(notes))


# --- Poetry's version constraints, converted to PEP 440 --------------------------------------

def poetry_requirement(name: str, value: object) -> list[str]:
    """``name = value`` of a Poetry dependency table as PEP 508 strings ([] when it names Python
    itself, an optional dependency, or a path/git/url source we cannot resolve)."""
    if canonical(name) == "python":
        return []
    if isinstance(value, list):  # several constraints, one per python range / marker
        return [r for item in value for r in poetry_requirement(name, item)]
    if isinstance(value, str):
        return [f"{name}{poetry_constraint(value)}"]
    if not isinstance(value, Mapping) or value.get("optional") or _has_source(value):
        return []
    extras = value.get("extras") or []
    head = f"{name}[{','.join(extras)}]" if extras else name
    markers = [m for m in (_python_marker(value.get("python")), value.get("markers")) if m]
    tail = f"; {' and '.join(f'({m})' for m in markers)}" if markers else ""
    return [f"{head}{poetry_constraint(str(value.get('version', '*')))}{tail}"]


def _has_source(value: Mapping[str, object]) -> bool:
    return any(key in value for key in ("git", "path", "url", "file"))


def poetry_constraint(text: str) -> str:
    """``^7.2`` → ``>=7.2,<8``; ``~1.2`` → ``>=1.2,<1.3``; ``*`` → no constraint. An ``||``
    (either-or) has no PEP 440 form: the newest compatible release is taken instead."""
    if "||" in text:
        return ""
    parts = [_poetry_clause(p.strip()) for p in re.split(r",|\s+(?=[<>=!^~])", text) if p.strip()]
    return ",".join(p for p in parts if p)


def _poetry_clause(clause: str) -> str:
    if clause in ("*", ""):
        return ""
    if clause.startswith(("^", "~")) and not clause.startswith("~="):
        release = _release(clause[1:])
        if release is None:
            return ""
        upper = _caret_upper(release) if clause[0] == "^" else _tilde_upper(release)
        return f">={clause[1:]},<{upper}"
    if re.match(r"^[0-9]", clause):
        return f"=={clause}"
    return clause


def _release(text: str) -> tuple[int, ...] | None:
    try:
        return Version(text.replace("*", "0")).release
    except InvalidVersion:
        return None


def _caret_upper(release: tuple[int, ...]) -> str:
    """Poetry's caret: the first non-zero component may not change (^0.2.3 → <0.3.0)."""
    for i, part in enumerate(release):
        if part != 0 or i == len(release) - 1:
            return ".".join(map(str, (*release[:i], part + 1)))
    return "1"


def _tilde_upper(release: tuple[int, ...]) -> str:
    """Poetry's tilde: ~1.2.3 and ~1.2 allow patch releases, ~1 allows minor ones."""
    if len(release) == 1:
        return str(release[0] + 1)
    return f"{release[0]}.{release[1] + 1}"


def _python_marker(constraint: object) -> str:
    if not isinstance(constraint, str) or not constraint.strip() or "||" in constraint:
        return ""
    clauses = poetry_constraint(constraint).split(",")
    return " and ".join(
        f'python_full_version {m.group(1)} "{m.group(2)}"'
        for c in clauses if (m := re.match(r"^(~=|==|!=|<=|>=|<|>)\s*(\S+)$", c))
    )
