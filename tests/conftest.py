"""Shared fixtures. Docker tests skip where no engine answers — unless SYNTH_REQUIRE_DOCKER=1
(as in CI), where a missing engine is a failure: a green run must mean the Docker path ran."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "samples" / "ledger"


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the whole session: wheelhouses and images are content-addressed anyway."""
    shared = os.environ.get("SYNTH_TEST_CACHE")
    if shared:
        path = Path(shared)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("synth-cache")


@pytest.fixture(scope="session")
def docker_engine() -> None:
    from synth.envs.docker_backend import ping

    ok, why = ping()
    if ok:
        return
    if os.environ.get("SYNTH_REQUIRE_DOCKER") == "1":
        pytest.fail(f"SYNTH_REQUIRE_DOCKER=1 but no Docker engine answers ({why})")
    pytest.skip(f"no Docker engine answers ({why})")
