"""One bad test costs only itself. Real suites hold tests that hang without a network, hog
memory or kill their own process; before, one such test made every baseline run TIMEOUT or OOM
and the repository yielded nothing (a suite with one test sleeping forever and one allocating
4 GB: 610 s, 0 tasks). Now the run that dies names the test, which is left out of every later
run, and the rest of the suite gives the baseline.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from synth.envs.backend import BackendConfig, Limits, build_backend
from synth.envs.spec import infer_spec
from synth.intake import parse_source, take
from synth.records import BackendKind
from synth.verifiers.runner import settle_baseline

pytestmark = pytest.mark.docker

TESTS = """
import os
import time

import pytest

from honest import add


@pytest.mark.parametrize("a", range(5))
def test_add(a):
    assert add(a, 1) == a + 1


def test_sleeps_forever():
    time.sleep(10**6)


def test_hogs_memory():
    blocks = [bytearray(256 << 20) for _ in range(16)]  # 4 GiB, touched
    assert blocks


def test_a_closed_pipe_is_an_error_not_a_signal():
    # Python ignores SIGPIPE; a run forked from the test server must too, or this kills it.
    r, w = os.pipe()
    os.close(r)
    with pytest.raises(BrokenPipeError):
        os.write(w, b"x")
"""


def test_a_hanging_and_a_memory_hogging_test_are_left_out_and_the_rest_is_the_baseline(
        tmp_path: Path, cache_dir: Path, docker_engine) -> None:
    src = tmp_path / "honest"
    (src / "tests").mkdir(parents=True)
    (src / "honest.py").write_text("def add(a, b):\n    return a + b\n")
    (src / "tests" / "test_honest.py").write_text(textwrap.dedent(TESTS))
    (src / "pyproject.toml").write_text('[project]\nname = "honest"\nversion = "0"\n')
    snapshot = take(parse_source(str(src)), tmp_path / "snap")
    spec = infer_spec({"pyproject.toml": (src / "pyproject.toml").read_text()},
                      ["honest.py", "tests/test_honest.py", "pyproject.toml"])
    config = BackendConfig(kind=BackendKind.DOCKER, cache_dir=cache_dir,
                           limits=Limits(timeout_s=120, test_timeout_s=5, memory_mb=512))
    backend = build_backend(config)
    try:
        env = backend.prepare(snapshot, spec)
        settled = settle_baseline(backend, env, snapshot)
    finally:
        backend.close()
    hang = "tests/test_honest.py::test_sleeps_forever"
    hog = "tests/test_honest.py::test_hogs_memory"
    assert set(settled.excluded) == {hang, hog}, settled.excluded
    assert "limit" in settled.excluded[hang]
    assert "killed" in settled.excluded[hog] or "memory" in settled.excluded[hog]
    assert len(settled.baseline.passing) == 6, settled.baseline
    assert "tests/test_honest.py::test_a_closed_pipe_is_an_error_not_a_signal" in (
        settled.baseline.passing)
    assert all(run.verdict.value == "pass" for run in settled.runs)
