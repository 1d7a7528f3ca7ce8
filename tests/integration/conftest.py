from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from synth.intake import parse_source, take
from synth.records import BackendKind, Snapshot
from tests.integration.corpus import private_copy, sample_corpus

SANDBOX_TESTS = """
import os
import socket

from box import double


def test_double():
    assert double(21) == 42


def test_only_loopback_is_reachable():
    names = sorted(name for _, name in socket.if_nameindex())
    assert names == ["lo"], names


def test_runs_as_non_root():
    assert os.getuid() != 0


def test_hash_seed_and_timezone_are_pinned():
    assert os.environ["PYTHONHASHSEED"] == "0"
    assert os.environ["TZ"] == "UTC"
"""


@pytest.fixture(scope="session")
def sandbox_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """A tiny repo whose tests probe the sandbox they run in."""
    src = tmp_path_factory.mktemp("box-src")
    (src / "tests").mkdir()
    (src / "box.py").write_text("def double(x):\n    return x * 2\n")
    (src / "tests" / "test_box.py").write_text(textwrap.dedent(SANDBOX_TESTS))
    (src / "pyproject.toml").write_text('[project]\nname = "box"\nversion = "0"\n')
    return take(parse_source(str(src)), tmp_path_factory.mktemp("box-snap"))


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    from synth.pipelines.factory import start_ray, stop_ray

    start_ray(None)
    yield
    stop_ray()


@pytest.fixture(scope="session")
def local_corpus(sample_path: Path, cache_dir: Path, ray_session: None) -> Path:
    """The sample's corpus on the local backend, for every test that only reads it."""
    return sample_corpus(sample_path, cache_dir, BackendKind.LOCAL)


@pytest.fixture(scope="session")
def docker_corpus(sample_path: Path, cache_dir: Path, docker_engine: None,
                  ray_session: None) -> Path:
    """The sample's corpus in Docker, for every test that only reads it."""
    return sample_corpus(sample_path, cache_dir, BackendKind.DOCKER)


@pytest.fixture
def local_corpus_copy(local_corpus: Path, tmp_path: Path) -> Path:
    """This test's own copy of ``local_corpus``, to write to (an audit stores its rows)."""
    return private_copy(local_corpus, tmp_path)


@pytest.fixture
def docker_corpus_copy(docker_corpus: Path, tmp_path: Path) -> Path:
    """This test's own copy of ``docker_corpus``, to write to (verify stores its verdicts)."""
    return private_copy(docker_corpus, tmp_path)
