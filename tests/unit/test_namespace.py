"""One import namespace: every package of ours is imported as ``synth.<name>``. The folders sit
at the repository's top level, but a bare ``import verifiers`` (or ``data``, ``envs``...) would
claim a name that other distributions own: ``verifiers`` is an RL-environment library on PyPI."""

from __future__ import annotations

import ast
import functools
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("envs", "verifiers", "pipelines", "data", "trainer")
# Programs copied into containers run standalone: they import the standard library, pytest, and
# each other by file name (runner, synth_patches ...), never our packages.
STANDALONE = ("envs/templates/",)


def project_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    this = Path(__file__).resolve().relative_to(ROOT).as_posix()  # names them on purpose
    return [f for f in listed if not f.startswith(("data/samples/", *STANDALONE)) and f != this]


def bare_imports(source: str) -> list[str]:
    """The imports of ``source`` that name one of our folders as a top-level package."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in FOLDERS]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in FOLDERS:
                found.append(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            head = node.value.split(".")[0]  # "envs.docker_backend" given to importlib/monkeypatch
            if head in FOLDERS and "." in node.value and " " not in node.value and \
                    node.value.replace(".", "").replace("_", "").isalnum() and \
                    node.value.split(".")[1] in _modules(head):
                found.append(node.value)
    return found


@functools.cache
def _modules(folder: str) -> frozenset[str]:
    return frozenset(p.stem for p in (ROOT / folder).iterdir() if p.suffix == ".py" or
                     (p / "__init__.py").is_file())


def test_no_module_imports_a_folder_as_a_top_level_package() -> None:
    offenders = {f: names for f in project_files()
                 if (names := bare_imports((ROOT / f).read_text(encoding="utf-8")))}
    assert offenders == {}


def test_the_check_sees_each_way_of_naming_a_bare_package() -> None:
    source = ("import verifiers\nimport envs.backend as b\nfrom data.store import Store\n"
              "from pipelines import stages\nmodule = 'envs.docker_backend'\n"
              "from synth.verifiers import screening\nimport synth.data.store\n"
              "note = 'data.held_out_fraction must lie in [0, 1)'\n")
    assert bare_imports(source) == ["verifiers", "envs.backend", "data.store", "pipelines",
                                    "envs.docker_backend"]


@pytest.mark.parametrize("folder", FOLDERS)
def test_each_folder_is_a_subpackage_of_synth(folder: str) -> None:
    import importlib

    module = importlib.import_module(f"synth.{folder}")
    assert Path(module.__file__).resolve() == ROOT / folder / "__init__.py"
