"""Which tests the maintainers run, read from the commands they run them with.

Without a ``testpaths`` setting, "every folder holding a test_*.py" collects property tests,
benchmarks and fixtures the project never runs, and whose failures would poison a baseline.
The tox / nox / Makefile / CI command says what the maintainers actually run; failing that,
the conventional test folder. Pure: file texts and tracked paths in, paths out.
"""

from __future__ import annotations

import ast
import configparser
import re
import shlex
import tomllib
from collections.abc import Collection, Iterator, Mapping

TEST_DIRS = ("tests", "test", "testing")
_TEST_FILE = re.compile(r"^(test_.*|.*_test)\.py$")
# tox factors under which a conditional setting applies to a plain test run.
_TEST_FACTORS = re.compile(r"^(tests?|testing|unit|py\d*|\d+(\.\d+)*)$")


def is_test_file(rel: str) -> bool:
    return bool(_TEST_FILE.match(rel.rsplit("/", 1)[-1]))


def command_test_paths(files: Mapping[str, str], tree: Collection[str]) -> tuple[list[str], str]:
    """Tracked paths that the first source with a pytest command passes to pytest, and where
    that command was read ("tox.ini [testenv] commands"); ([], "") when none names a path."""
    for where, args in _sources(files):
        paths = _existing(args, tree)
        if paths:
            return paths, where
    return [], ""


def conventional_test_paths(tree: Collection[str]) -> list[str]:
    """tests/ test/ testing/ at the root; else in-package test folders; else root test modules."""
    test_files = [rel for rel in tree if rel.endswith(".py") and is_test_file(rel)]
    top = sorted({rel.split("/", 1)[0] for rel in test_files if rel.split("/", 1)[0] in TEST_DIRS})
    if top:
        return top
    nested = sorted({_nested_test_dir(rel) for rel in test_files} - {""})
    if nested:
        return _outermost(nested)
    return sorted(rel for rel in test_files if "/" not in rel)


def _nested_test_dir(rel: str) -> str:
    """``pkg/tests/unit/test_x.py`` → ``pkg/tests``; "" when no folder on the way is a test one."""
    parts = rel.split("/")[:-1]
    for i, part in enumerate(parts):
        if part in TEST_DIRS:
            return "/".join(parts[: i + 1])
    return ""


def _outermost(paths: list[str]) -> list[str]:
    return [p for p in paths if not any(p.startswith(q + "/") for q in paths if q != p)]


def _existing(args: list[str], tree: Collection[str]) -> list[str]:
    found: list[str] = []
    for arg in args:
        path = arg.split("::", 1)[0].removeprefix("./").rstrip("/")
        if path and not arg.startswith("-") and _in_tree(path, tree) and path not in found:
            found.append(path)
    return _outermost(found)


def _in_tree(path: str, tree: Collection[str]) -> bool:
    return any(rel == path or rel.startswith(path + "/") for rel in tree)


def _sources(files: Mapping[str, str]) -> Iterator[tuple[str, list[str]]]:
    """(where, pytest arguments) for each pytest command, tox first: it is what CI and the
    contributing guide usually delegate to."""
    if "tox.ini" in files:
        for line in _tox_ini_commands(files["tox.ini"]):
            yield "tox.ini [testenv] commands", _pytest_args(_split(line))
    for rel in ("tox.toml", "pyproject.toml"):
        for argv in _tox_toml_commands(files.get(rel, ""), nested=rel == "pyproject.toml"):
            yield f"{rel} tox env_run_base commands", _pytest_args(argv)
    if "noxfile.py" in files:
        for argv in _nox_commands(files["noxfile.py"]):
            yield "noxfile.py", _pytest_args(argv)
    for rel in sorted(files):
        if rel == "Makefile" or rel.startswith(".github/workflows/"):
            for line in files[rel].splitlines():
                if "pytest" in line:
                    yield rel, _pytest_args(_split(line))


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split()


def _pytest_args(argv: list[str]) -> list[str]:
    """The arguments after ``pytest`` / ``py.test`` / ``-m pytest``, tox placeholders resolved:
    ``{posargs:tests}`` → ``tests``, ``{toxinidir}/x`` → ``x``."""
    for i, word in enumerate(argv):
        name = word.rsplit("/", 1)[-1]
        is_module = word == "pytest" and i > 0 and argv[i - 1] == "-m"
        if name in ("pytest", "py.test") or is_module or word.endswith(":pytest}"):
            return [a for w in argv[i + 1:] if (a := _untox(w))]
    return []


def _untox(word: str) -> str:
    word = re.sub(r"\{posargs:?([^}]*)\}", r"\1", word)
    word = re.sub(r"^\{(toxinidir|tox_root)\}/?", "", word)
    return "" if "{" in word or "$" in word else word


def _tox_ini_commands(text: str) -> list[str]:
    cfg = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        cfg.read_string(text)
    except configparser.Error:
        return []
    raw = cfg.get("testenv", "commands", fallback="").replace("\\\n", " ")
    return [line for ln in raw.splitlines() if (line := strip_factor(ln.strip()))]


def strip_factor(line: str) -> str:
    """``tests: pytest {posargs}`` → ``pytest {posargs}``; a line conditioned on a factor that
    is not a plain test run (``mypy: mypy src``) → ""."""
    match = re.match(r"^([\w.,{}!-]+):\s+(.*)$", line)
    if not match:
        return line
    factors = re.split(r"[,-]", match.group(1))
    return match.group(2) if any(_TEST_FACTORS.match(f) for f in factors) else ""


def _tox_toml_commands(text: str, *, nested: bool) -> list[list[str]]:
    try:
        data = tomllib.loads(text) if text else {}
    except tomllib.TOMLDecodeError:
        return []
    if nested:
        data = data.get("tool", {}).get("tox", {})
    commands = data.get("env_run_base", {}).get("commands", [])
    return [_flatten(cmd) for cmd in commands if isinstance(cmd, list)]


def _flatten(cmd: list[object]) -> list[str]:
    """tox.toml's ``{replace = "posargs", default = [...]}`` stands for its default."""
    out: list[str] = []
    for part in cmd:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and part.get("replace") == "posargs":
            out += [str(d) for d in part.get("default", []) if isinstance(d, str)]
    return out


def _nox_commands(text: str) -> list[list[str]]:
    """``session.run("pytest", "tests", ...)`` calls with their literal string arguments."""
    try:
        module = ast.parse(text)
    except SyntaxError:
        return []
    out: list[list[str]] = []
    for node in ast.walk(module):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "run":
            args = [a.value for a in node.args
                    if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if "pytest" in args:
                out.append(args)
    return out


def submodule_readers(
    gitmodules: str, test_paths: Collection[str], test_texts: Mapping[str, str]
) -> list[tuple[str, str]]:
    """(test module, submodule) for each collected test module that names a git submodule lying
    inside the test paths. Snapshots hold no submodule contents, so such a module fails at
    import (tomlkit's tests/test_toml_tests.py lists tests/toml-test at collection time)."""
    subs = re.findall(r"^\s*path\s*=\s*(\S+)\s*$", gitmodules, re.M)
    inside = [s for s in subs if any(s == p or s.startswith(p.rstrip("/") + "/")
                                     for p in test_paths)]
    found: list[tuple[str, str]] = []
    for rel, text in sorted(test_texts.items()):
        if not is_test_file(rel) or not any(rel.startswith(p.rstrip("/") + "/") or rel == p
                                            for p in test_paths):
            continue
        found += [(rel, sub) for sub in inside if sub.rsplit("/", 1)[-1] in text][:1]
    return found
