"""Every ```python block of the README runs as written, in a folder holding what it opens: the
sample's Docker corpus as `corpus.duckdb` (tests/unit/test_readme_examples.py checks them
without Docker)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.solution_kit import corpus_db
from tests.readme import Block, readme_blocks

pytestmark = pytest.mark.usefixtures("docker_engine", "ray_session")


@pytest.fixture
def workdir(sample_path: Path, cache_dir: Path, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Path:
    # A copy: an example opens the store read-write, and the shared corpus must stay as built.
    shutil.copy(corpus_db(sample_path, cache_dir), tmp_path / "corpus.duckdb")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("block", readme_blocks(), ids=lambda b: b.where)
def test_a_readme_python_example_runs(block: Block, workdir: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__readme__"}
    exec(compile(block.code, block.where, "exec"), namespace)
    if "episodes" in namespace:  # the agent example says what its two agents earn
        assert [e.reward for e in namespace["episodes"]] == [1.0, 0.0]  # type: ignore[attr-defined]
