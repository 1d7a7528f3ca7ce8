"""Hostile tests against both backends: each attack gets the right verdict within its bound, and
nothing it started outlives the run. Forgeries are never accepted."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from synth.envs.backend import BackendConfig, Limits, RunRequest, build_backend
from synth.envs.spec import infer_spec, read_config_files
from synth.intake import parse_source, take
from synth.records import BackendKind, RunKind, Snapshot, TestStatus, Verdict
from synth.verifiers.runner import run_suite
from tests.integration.hostile_repo import marker_patch, write_hostile_repo

TIMEOUT_S = 15
LIMITS = Limits(timeout_s=TIMEOUT_S, memory_mb=512, pids=64, work_mb=128, tmpfs_mb=64)
# Strings that only processes started by the attacks carry in their command lines.
LEFTOVER_MARKS = ("sleep(600)", "sleep 61.5")


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[str, int]]:
    """A real TCP listener on this machine: the network attack's target."""
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen()
    host = socket.gethostbyname(socket.gethostname())
    yield host, server.getsockname()[1]
    server.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, listener) -> Snapshot:
    src = tmp_path_factory.mktemp("hostile-src")
    write_hostile_repo(src, *listener)
    return take(parse_source(str(src)), tmp_path_factory.mktemp("hostile-snap"))


# Docker runs each attack twice over: in a fresh pytest process ("exact") and in a fork of the
# test server's collector, which collected the suite once before ("hot", forkserver.py).
@pytest.fixture(scope="module", params=[(BackendKind.DOCKER, False), (BackendKind.DOCKER, True),
                                        (BackendKind.LOCAL, False)],
                ids=["docker-exact", "docker-hot", "local"])
def sandbox(request, hostile: Snapshot, cache_dir: Path):
    kind, hot = request.param
    if kind is BackendKind.DOCKER:
        request.getfixturevalue("docker_engine")
    config = BackendConfig(kind=kind, cache_dir=cache_dir, limits=LIMITS)
    backend = build_backend(config)
    tree = git.Repo(hostile.path).git.ls_files().splitlines()
    env = backend.prepare(hostile, infer_spec(read_config_files(Path(hostile.path)), tree))
    yield config.kind, backend, env, hot
    backend.close()


def attack(sandbox, hostile: Snapshot, marker: str):
    kind, backend, env, hot = sandbox
    start = time.monotonic()
    run = run_suite(backend, env, hostile, kind=RunKind.BUG,
                    request=RunRequest(patch=marker_patch(marker), hot=hot))
    if hot and run.verdict in (Verdict.PASS, Verdict.FAIL):
        assert backend.session(env).last_mode == "hot", "the attack did not run hot"
    return run, time.monotonic() - start


def leftovers() -> list[str]:
    """Command lines of processes an attack started that are still alive on this host."""
    alive = []
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(mark in cmdline for mark in LEFTOVER_MARKS):
            alive.append(cmdline)
    return alive


def status(run, name: str) -> TestStatus:
    return run.status_map().get(f"tests/test_box.py::{name}", TestStatus.MISSING)


def test_clean_repository_passes(sandbox, hostile) -> None:
    kind, backend, env, _ = sandbox
    run = run_suite(backend, env, hostile, kind=RunKind.BASELINE)
    assert run.verdict is Verdict.PASS, run.log_tail


@pytest.mark.parametrize("marker", ["SLEEP", "BUSY"])
def test_a_hung_suite_times_out_within_its_bound(sandbox, hostile, marker) -> None:
    run, took = attack(sandbox, hostile, marker)
    assert run.verdict is Verdict.TIMEOUT
    assert took < TIMEOUT_S + 10
    assert leftovers() == []


@pytest.mark.parametrize("marker", ["TERMCHILD", "SETSID"])
def test_processes_a_test_leaves_behind_are_killed(sandbox, hostile, marker) -> None:
    run, _ = attack(sandbox, hostile, marker)
    assert run.verdict is Verdict.PASS, run.log_tail
    deadline = time.monotonic() + 5
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers() == []


def test_a_memory_hog_is_stopped(sandbox, hostile) -> None:
    run, took = attack(sandbox, hostile, "HOG")
    if sandbox[0] is BackendKind.DOCKER:
        assert run.verdict is Verdict.OOM
    else:
        # An address-space rlimit makes the allocation raise MemoryError inside the test.
        assert run.verdict is Verdict.FAIL and status(run, "test_allocate_4gb") is TestStatus.FAILED
    assert took < TIMEOUT_S + 10


def test_a_disk_filler_hits_its_limit(sandbox, hostile) -> None:
    run, took = attack(sandbox, hostile, "DISK")
    assert run.verdict is Verdict.FAIL, run.log_tail
    assert status(run, "test_fill_the_disk") is TestStatus.FAILED
    assert took < TIMEOUT_S + 10


def test_the_network_is_unreachable(sandbox, hostile) -> None:
    run, _ = attack(sandbox, hostile, "NET")
    assert status(run, "test_outbound_network") is TestStatus.FAILED, run.log_tail


@pytest.mark.parametrize("marker,test", [
    ("FORKBOMB", "test_fork_bomb"),
    ("ESCAPE", "test_write_outside_the_repository"),
    ("MOUNT", "test_mount"),
    ("SETUID", "test_become_root"),
])
def test_container_blocks_privileged_attacks(sandbox, hostile, marker, test) -> None:
    """Only Docker promises these: the local fallback runs tests as the factory's own user."""
    if sandbox[0] is not BackendKind.DOCKER:
        pytest.skip("the local backend does not contain root, fork bombs or mounts")
    run, took = attack(sandbox, hostile, marker)
    assert run.verdict in (Verdict.FAIL, Verdict.ERROR), run.log_tail
    assert status(run, test) is TestStatus.FAILED
    assert took < TIMEOUT_S + 10
    deadline = time.monotonic() + 5
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers() == []


def test_printed_pass_lines_count_for_nothing(sandbox, hostile) -> None:
    run, _ = attack(sandbox, hostile, "FAKEPASS")
    assert run.verdict is Verdict.FAIL
    assert status(run, "test_fake_passed_lines") is TestStatus.FAILED


def test_a_forged_report_is_never_a_pass(sandbox, hostile) -> None:
    """The forger cannot see where the report goes or the nonce that authenticates it, and what
    it rewrites in-process either contradicts pytest's own exit code (INFRA) or is overwritten by
    its own failure (FAIL): never a PASS."""
    run, _ = attack(sandbox, hostile, "FORGE")
    assert run.verdict in (Verdict.FAIL, Verdict.INFRA), run.reason
    assert status(run, "test_forge_the_report") is not TestStatus.PASSED


def test_no_test_container_outlives_the_backend(sandbox, hostile) -> None:
    kind, backend, env, _ = sandbox
    if kind is not BackendKind.DOCKER:
        pytest.skip("only the Docker backend leaves containers to outlive it")
    from synth.envs.docker_cleanup import run_containers

    backend.close()
    assert run_containers(env.env_id) == []
