"""The factory's front: CLI, records, repository intake, bug injection, problem statements.

One import namespace: the project's other packages sit beside this one at the repository's top
level and are imported as ``synth.envs``, ``synth.verifiers``, ``synth.pipelines``,
``synth.data`` and ``synth.trainer``. An installed wheel holds them inside this package
(pyproject.toml maps the folders). Read from a source tree, the tree's own folders are found
here, so that ``synth`` and its subpackages always come from one tree (an editable install's
finder would otherwise serve them from wherever the project was installed from)."""

from pathlib import Path as _Path

_TREE = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "envs").is_dir() and (_TREE / "envs" / "__init__.py").is_file():
    __path__.append(str(_TREE))  # noqa: F821 - a package's own __path__
