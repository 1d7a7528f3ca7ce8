"""Both backends on a repo whose tests probe their sandbox: isolation, limits, cleanup."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.envs.backend import BackendConfig, Limits, RunRequest, build_backend
from synth.envs.spec import infer_spec, read_config_files
from synth.records import BackendKind, RunKind, Snapshot, TestStatus, Verdict
from synth.verifiers.runner import run_baseline, run_suite

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


def test_clean_suite_passes_in_three_orders_and_sandbox_holds(
    prepared, sandbox_snapshot: Snapshot
) -> None:
    config, backend, env = prepared
    baseline, runs = run_baseline(backend, env, sandbox_snapshot)
    # Locally the non-root probe fails (tests run as the factory's user): FAIL, not PASS.
    clean = Verdict.PASS if config.kind is BackendKind.DOCKER else Verdict.FAIL
    assert [r.verdict for r in runs] == [clean] * 3
    assert [r.order for r in runs][:2] == ["default", "reverse"]
    statuses = runs[0].status_map()
    expected = {"test_double", "test_hash_seed_and_timezone_are_pinned",
                "test_only_loopback_is_reachable"}
    if config.kind is BackendKind.DOCKER:
        # The local backend runs tests as whoever runs the factory.
        expected.add("test_runs_as_non_root")
    for name in expected:
        assert statuses[f"tests/test_box.py::{name}"] is TestStatus.PASSED, runs[0].log_tail
    assert baseline.flaky == frozenset()


def test_bug_patch_fails_exactly_the_test_that_covers_it(prepared, sandbox_snapshot) -> None:
    _, backend, env = prepared
    clean = run_suite(backend, env, sandbox_snapshot, kind=RunKind.BASELINE)
    run = run_suite(backend, env, sandbox_snapshot, kind=RunKind.BUG, request=RunRequest(patch=BUG))
    assert run.verdict is Verdict.FAIL

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
    run = run_suite(backend, env, sandbox_snapshot, kind=RunKind.BUG,
                    request=RunRequest(patch=BUG.replace("x * 2", "x * 7")))
    assert run.verdict is Verdict.ERROR and run.exit_code == 97
    assert run.results == ()


def test_selection_runs_only_the_chosen_tests(prepared, sandbox_snapshot) -> None:
    _, backend, env = prepared
    chosen = ("tests/test_box.py::test_double",)
    run = run_suite(backend, env, sandbox_snapshot, kind=RunKind.SCREEN,
                    request=RunRequest(patch=BUG, select=chosen))
    assert run.verdict is Verdict.FAIL and run.selected == 1
    assert [r.test_id for r in run.results] == list(chosen)


def test_a_warm_session_resets_the_working_copy_exactly(prepared, sandbox_snapshot) -> None:
    """A bug applied in one run must not leak into the next run on the same warm container."""
    _, backend, env = prepared
    bugged = run_suite(backend, env, sandbox_snapshot, kind=RunKind.BUG,
                       request=RunRequest(patch=BUG))
    clean = run_suite(backend, env, sandbox_snapshot, kind=RunKind.BASELINE)
    assert bugged.verdict is Verdict.FAIL
    assert clean.status_map()["tests/test_box.py::test_double"] is TestStatus.PASSED


def test_coverage_maps_each_test_to_the_lines_it_ran(prepared, sandbox_snapshot) -> None:
    from synth.verifiers.runner import run_coverage

    _, backend, env = prepared
    run, coverage = run_coverage(backend, env, sandbox_snapshot)
    assert coverage is not None, run.log_tail
    lines = {(e.test_id, e.file): e.lines for e in coverage.entries}
    assert lines[("tests/test_box.py::test_double", "box.py")] == (2,)
    assert ("tests/test_box.py::test_runs_as_non_root", "box.py") not in lines


def test_a_built_environment_is_found_by_its_image_name(prepared, sandbox_snapshot: Snapshot,
                                                       monkeypatch) -> None:
    """The image carries the environment's name: preparing the snapshot again builds nothing
    (and clean-up, audit and export find the image by that name)."""
    config, backend, env = prepared
    if config.kind is not BackendKind.DOCKER:
        pytest.skip("the local backend keeps no images")

    from synth.envs import docker_backend

    def build(*args, **kwargs):
        raise AssertionError(f"{env.image_name} was not found: built again")

    monkeypatch.setattr(docker_backend, "build_image", build)
    again = backend.prepare(sandbox_snapshot, _spec(sandbox_snapshot))
    assert (again.image_name, again.image_digest) == (env.image_name, env.image_digest)


def test_no_labelled_containers_are_left_behind(prepared) -> None:
    config, backend, env = prepared
    backend.close()
    if config.kind is BackendKind.DOCKER:
        from synth.envs.docker_cleanup import run_containers

        assert run_containers(env.env_id) == []
