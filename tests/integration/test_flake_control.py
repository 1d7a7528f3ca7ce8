"""Flake control, measured: tests that fail at random are kept out of FAIL_TO_PASS/PASS_TO_PASS
at least as often as three baseline runs allow, and a stable test is never quarantined."""

from __future__ import annotations

import math
import os
from pathlib import Path

import git
import pytest

from synth.envs.backend import BackendConfig, Limits, build_backend
from synth.envs.spec import infer_spec, read_config_files
from synth.intake import parse_source, take
from synth.records import BackendKind
from synth.verifiers.runner import BASELINE_RUNS, run_baseline

TRIALS = int(os.environ.get("SYNTH_FLAKE_TRIALS", "50"))  # the issue asks for 50
RATES = {"test_flaky_10": 0.1, "test_flaky_30": 0.3, "test_flaky_50": 0.5}
TESTS = "import os\n\n\ndef test_stable():\n    assert True\n" + "".join(
    f"\n\ndef {name}():\n    assert os.urandom(1)[0] >= {round(256 * rate)}\n"
    for name, rate in RATES.items()
)


@pytest.mark.usefixtures("docker_engine")
def test_flaky_tests_are_quarantined_at_the_rate_reruns_allow(tmp_path: Path,
                                                              cache_dir: Path) -> None:
    src = tmp_path / "flaky"
    (src / "tests").mkdir(parents=True)
    (src / "tests" / "test_flaky.py").write_text(TESTS)
    (src / "pyproject.toml").write_text('[project]\nname = "flaky"\nversion = "0"\n')
    snapshot = take(parse_source(str(src)), tmp_path / "snap")
    tree = git.Repo(snapshot.path).git.ls_files().splitlines()
    spec = infer_spec(read_config_files(Path(snapshot.path)), tree)
    backend = build_backend(BackendConfig(kind=BackendKind.DOCKER, cache_dir=cache_dir,
                                          limits=Limits(timeout_s=60)))
    excluded = dict.fromkeys([*RATES, "test_stable"], 0)
    try:
        env = backend.prepare(snapshot, spec)
        for _ in range(TRIALS):
            baseline, _ = run_baseline(backend, env, snapshot)
            for name in excluded:
                excluded[name] += f"tests/test_flaky.py::{name}" not in baseline.passing
    finally:
        backend.close()
    assert excluded["test_stable"] == 0
    for name, p in RATES.items():
        # A flaky test slips through only by passing every baseline run: (1-p)^runs.
        q = 1 - (1 - p) ** BASELINE_RUNS
        floor = q - 3 * math.sqrt(q * (1 - q) / TRIALS)
        assert excluded[name] / TRIALS >= floor, (name, excluded[name], TRIALS, q)
