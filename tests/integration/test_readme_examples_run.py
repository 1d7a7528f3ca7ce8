"""Every ```python block of the README runs as written, in a folder holding what it opens: the
sample's Docker corpus as `corpus.duckdb` (tests/unit/test_readme_examples.py checks them
without Docker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.readme import Block, readme_blocks

pytestmark = pytest.mark.usefixtures("docker_engine", "ray_session")


@pytest.fixture
def workdir(docker_corpus_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # A copy (an example opens the store read-write; the shared corpus must stay as built),
    # named corpus.duckdb as the examples name it, alone in this test's folder.
    monkeypatch.chdir(docker_corpus_copy.parent)
    return docker_corpus_copy.parent


@pytest.mark.parametrize("block", readme_blocks(), ids=lambda b: b.where)
def test_a_readme_python_example_runs(block: Block, workdir: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__readme__"}
    exec(compile(block.code, block.where, "exec"), namespace)
    if "episodes" in namespace:  # the agent example says what its two agents earn
        assert [e.reward for e in namespace["episodes"]] == [1.0, 0.0]  # type: ignore[attr-defined]
