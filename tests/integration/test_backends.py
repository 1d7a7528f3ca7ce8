"""Both backends on a repo whose tests probe their sandbox: isolation, limits, cleanup."""

from __future__ import annotations

from pathlib import Path

import pytest

from envs.backend import BackendConfig, Limits, build_backend
from envs.spec import infer_spec, read_config_files
from synth.records import BackendKind, RunKind, RunOutcome, Snapshot, TestStatus
from tests.integration.conftest import patch_creating
from verifiers.runner import run_baseline, run_suite

BUG = """diff --git a/box.py b/box.py
--- a/box.py
+++ b/box.py
@@ -1,2 +1,2 @@
 def double(x):
-    return x * 2
+    return x * 3
"""


def _spec(snapshot: Snapshot):
    import git

    tree = git.Repo(snapshot.path).git.ls_files().splitlines()
    return infer_spec(read_config_files(Path(snapshot.path)), tree)


@pytest.fixture(
    scope="module", params=[BackendKind.DOCKER, BackendKind.LOCAL], ids=lambda k: k.value
)
def prepared(request, sandbox_snapshot: Snapshot, cache_dir: Path):
    if request.param is BackendKind.DOCKER:
        request.getfixturevalue("docker_engine")
    config = BackendConfig(
        kind=request.param, cache_dir=cache_dir, limits=Limits(timeout_s=60, memory_mb=256)
    )
    backend = build_backend(config)
    env = backend.prepare(sandbox_snapshot, _spec(sandbox_snapshot))
    return config, backend, env


def test_clean_suite_passes_twice_and_sandbox_holds(prepared, sandbox_snapshot: Snapshot) -> None:
    config, backend, env = prepared
    baseline, runs = run_baseline(backend, env, sandbox_snapshot)
    assert [r.outcome for r in runs] == [RunOutcome.OK, RunOutcome.OK]
    statuses = runs[0].status_map()
    expected = {
        "test_double",
        "test_hash_seed_and_timezone_are_pinned",
        "test_memory_hog",
        "test_sleeper",
    }
    if config.kind is BackendKind.DOCKER:
        # Non-root and loopback-only are guarantees of the container; the local backend runs
        # as whoever runs the factory, and isolates the network only where unshare is allowed.
        expected |= {"test_runs_as_non_root", "test_only_loopback_is_reachable"}
    for name in expected:
        assert statuses[f"tests/test_box.py::{name}"] is TestStatus.PASSED, runs[0].log_tail
    assert baseline.flaky == frozenset()


def test_bug_patch_fails_exactly_the_test_that_covers_it(prepared, sandbox_snapshot) -> None:
    _, backend, env = prepared
    clean = run_suite(backend, env, sandbox_snapshot, kind=RunKind.BASELINE)
    run = run_suite(backend, env, sandbox_snapshot, kind=RunKind.BUG, patch=BUG)
    assert run.outcome is RunOutcome.OK

    def failed(r):
        return {t for t, s in r.status_map().items() if s is TestStatus.FAILED}

    assert failed(run) - failed(clean) == {"tests/test_box.py::test_double"}
    assert (
        "assert 63 == 42"
        in dict((r.test_id, r.message) for r in run.results)["tests/test_box.py::test_double"]
    )
    # The patch was applied to a throwaway copy, never to the snapshot itself.
    assert "x * 2" in (Path(sandbox_snapshot.path) / "box.py").read_text()


def test_patch_that_does_not_apply_voids_the_run(prepared, sandbox_snapshot) -> None:
    _, backend, env = prepared
    run = run_suite(
        backend, env, sandbox_snapshot, kind=RunKind.BUG, patch=BUG.replace("x * 2", "x * 7")
    )
    assert run.outcome is RunOutcome.PATCH_FAILED
    assert run.results == ()


def test_memory_limit_kill_is_detected(prepared, sandbox_snapshot) -> None:
    config, backend, env = prepared
    run = run_suite(backend, env, sandbox_snapshot, kind=RunKind.BUG, patch=patch_creating("HOG"))
    if config.kind is BackendKind.DOCKER:
        assert run.outcome is RunOutcome.OOM, run.log_tail
    else:
        # An address-space rlimit makes the allocation raise MemoryError inside the test.
        assert run.status_map()["tests/test_box.py::test_memory_hog"] is TestStatus.FAILED
        assert (
            "MemoryError"
            in dict((r.test_id, r.message) for r in run.results)[
                "tests/test_box.py::test_memory_hog"
            ]
        )


def test_timeout_kills_the_whole_run(prepared, sandbox_snapshot, tmp_path: Path) -> None:
    config, backend, env = prepared
    fast = build_backend(config.model_copy(update={"limits": Limits(timeout_s=8, memory_mb=256)}))
    run = run_suite(fast, env, sandbox_snapshot, kind=RunKind.BUG, patch=patch_creating("SLEEP"))
    assert run.outcome is RunOutcome.TIMEOUT
    assert run.duration_s < 60
    if config.kind is BackendKind.LOCAL:
        # The grandchild (a `sleep` the test spawned) died with its process group.
        pid = int(Path("/tmp/box.pid").read_text())
        assert not _alive(pid)


def test_no_labelled_containers_are_left_behind(prepared) -> None:
    config, _, env = prepared
    if config.kind is BackendKind.DOCKER:
        from envs.docker_backend import run_containers

        assert run_containers(env.env_id) == []


def _alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for a reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
