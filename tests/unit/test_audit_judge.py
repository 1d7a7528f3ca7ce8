"""The audit's judgement on hand-built runs, locks and file listings: no Docker, no processes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from synth.envs.listing import dir_listing, listing_changes, tar_listing
from synth.pipelines.audit import (
    judge_task,
    lock_changes,
    sample_tasks,
)
from synth.records import DriftReason, Requirement, RunKind, TestStatus, Verdict
from tests.factories import make_requirement, make_run, make_task
from tests.unit.test_export_mapping import make_corpus

P, F = TestStatus.PASSED, TestStatus.FAILED


TASK = make_task(FAIL_TO_PASS=("t::f2p",), PASS_TO_PASS=("t::p2p",))
BUG_OK = {"t::f2p": F, "t::p2p": P}
GOLD_OK = {"t::f2p": P, "t::p2p": P}


def test_a_task_that_behaves_as_stored_reproduces() -> None:
    runs = [make_run(BUG_OK, kind=RunKind.BUG, attempt=i) for i in range(2)]
    gold = [make_run(GOLD_OK, kind=RunKind.GOLD, attempt=i) for i in range(2)]
    finding = judge_task(TASK, runs, gold)
    assert finding.reasons == () and finding.details == ()


def test_a_fail_to_pass_test_that_now_passes_every_time_is_a_flip() -> None:
    runs = [make_run({"t::f2p": P, "t::p2p": P}, kind=RunKind.BUG, attempt=i) for i in range(2)]
    finding = judge_task(TASK, runs, [make_run(GOLD_OK, kind=RunKind.GOLD)])
    assert finding.reasons == (DriftReason.TEST_FLIPPED,)
    assert finding.flipped == ("t::f2p",)
    assert "t::f2p (FAIL_TO_PASS, passed)" in finding.details[0]


def test_a_test_that_disagrees_across_runs_is_flaky_not_flipped() -> None:
    runs = [make_run(BUG_OK, kind=RunKind.BUG),
            make_run({"t::f2p": F, "t::p2p": F}, kind=RunKind.BUG, attempt=1)]
    finding = judge_task(TASK, runs, [make_run(GOLD_OK, kind=RunKind.GOLD)])
    assert finding.reasons == (DriftReason.TEST_FLAKY,)
    assert finding.flaky == ("t::p2p",) and finding.flipped == ()


def test_a_test_missing_from_the_gold_runs_counts_as_not_passing() -> None:
    gold = [make_run({"t::p2p": P}, kind=RunKind.GOLD, attempt=i) for i in range(2)]
    finding = judge_task(TASK, [make_run(BUG_OK, kind=RunKind.BUG)], gold)
    assert finding.reasons == (DriftReason.TEST_FLIPPED,)
    assert "gold state" in finding.details[0]


def test_a_run_that_timed_out_is_a_run_failure_and_is_left_out_of_the_comparison() -> None:
    runs = [make_run(BUG_OK, kind=RunKind.BUG),
            make_run(kind=RunKind.BUG, attempt=1, verdict=Verdict.TIMEOUT)]
    finding = judge_task(TASK, runs, [make_run(GOLD_OK, kind=RunKind.GOLD)])
    assert finding.reasons == (DriftReason.RUN_FAILED,)
    assert finding.details == ("bug run 2: timeout",)


def _req(name: str, version: str, sha: str = "a") -> Requirement:
    return make_requirement(name, version, filename=f"{name}-{version}.whl", sha256=sha * 64)


def test_lock_changes_name_each_package_and_how_it_changed() -> None:
    stored = [_req("pytest", "8.0.0"), _req("pluggy", "1.5.0"), _req("gone", "1.0")]
    rebuilt = [_req("pytest", "8.3.4"), _req("pluggy", "1.5.0", "b"), _req("new", "2.0")]
    assert lock_changes(stored, rebuilt) == [
        "gone 1.0 removed",
        "new 2.0 added",
        "pluggy 1.5.0: same version, another wheel (pluggy-1.5.0.whl)",
        "pytest 8.0.0 → 8.3.4",
    ]
    assert lock_changes(stored, stored) == []


def test_listing_changes_report_changed_and_one_sided_paths() -> None:
    old = {"a": "1", "b": "2", "c": "3"}
    new = {"a": "1", "b": "X", "d": "4"}
    assert listing_changes(old, new) == [
        "b",
        "c (only in the stored environment)",
        "d (only in the rebuild)",
    ]


def test_dir_listing_ignores_bytecode_and_the_venv_own_path(tmp_path: Path) -> None:
    def venv(root: Path, pyc: bytes) -> None:
        (root / "bin").mkdir(parents=True)
        (root / "bin" / "pytest").write_text(f"#!{root}/bin/python\n")
        (root / "__pycache__").mkdir()
        (root / "__pycache__" / "m.cpython-311.pyc").write_bytes(pyc)
        (root / "python").symlink_to(root / "bin" / "pytest")

    venv(tmp_path / "one", b"\x01")
    venv(tmp_path / "two-rebuild", b"\x02")
    one, two = dir_listing(tmp_path / "one"), dir_listing(tmp_path / "two-rebuild")
    assert set(one) == {"bin/pytest", "python"}
    assert one == two


def test_tar_listing_digests_files_and_links() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("venv/a.py", b"x = 1\n"), ("venv/__pycache__/a.pyc", b"junk")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("venv/python")
        link.type, link.linkname = tarfile.SYMTYPE, "/usr/bin/python3"
        tar.addfile(link)
    listing = tar_listing(buf.getvalue())
    assert set(listing) == {"venv/a.py", "venv/python"}
    assert listing["venv/python"] == "link:/usr/bin/python3"


def test_sample_is_seeded_and_returns_everything_when_asked_for_more() -> None:
    *_, tasks = make_corpus(6)
    first, again = sample_tasks(tasks, 3, seed=7), sample_tasks(tasks, 3, seed=7)
    assert first == again and len(first) == 3
    assert first == sorted(first, key=lambda t: t.instance_id)
    assert (
        sample_tasks(tasks, None, 0)
        == sample_tasks(tasks, 99, 0)
        == sorted(tasks, key=lambda t: t.instance_id)
    )
