"""The solutions table: a scored fix round-trips with its per-test results and flags, and
storing the same solution again adds nothing."""

from __future__ import annotations

from pathlib import Path

from synth.data.store import Store
from synth.records import Outcome, SolutionFlag, SolutionVerdict, TestOutcome, TestStatus


def verdict(outcome: Outcome = Outcome.RESOLVED) -> SolutionVerdict:
    return SolutionVerdict(
        solution_id="s1", instance_id="pkg.abc.op__1", patch_hash="h", outcome=outcome,
        fail_to_pass_passed=1, fail_to_pass_total=1, pass_to_pass_passed=1,
        pass_to_pass_total=1,
        tests=(TestOutcome(test_id="t::a", expected="FAIL_TO_PASS", status=TestStatus.PASSED,
                           passed=True),
               TestOutcome(test_id="t::b", expected="PASS_TO_PASS", status=TestStatus.PASSED,
                           passed=True)),
        flags=(SolutionFlag.TEST_HOOK,), dropped=("conftest.py",), runs=1, duration_s=1.5,
    )


def test_a_solution_round_trips_and_a_second_write_adds_nothing(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb") as store:
        first = verdict()
        store.write_solutions([(first, "diff --git a/x b/x\n")])
        store.write_solutions([(verdict(Outcome.ERROR), "diff --git a/x b/x\n")])
        assert store.list_solutions() == [first] == store.list_solutions("pkg.abc.op__1")
        assert store.counts()["solutions"] == 1
        assert store.query("SELECT patch, len(tests) FROM solutions") == [
            ("diff --git a/x b/x\n", 2)]


def test_a_tampered_verdict_keeps_its_evidence_and_older_files_migrate(tmp_path: Path) -> None:
    from synth.data.store import MIGRATIONS, _insert, _plain

    path = tmp_path / "s.duckdb"
    with Store.open(path, migrations=MIGRATIONS[:5]) as old:  # before evidence and canary
        row = {k: v for k, v in _plain(verdict()).items() if k not in ("evidence", "canary")}
        with old._batch() as db:
            _insert(db, "solutions", [{**row, "patch": "p1\n"}])
    caught = verdict(Outcome.TAMPERED).model_copy(update={
        "solution_id": "s2", "evidence": ("the witness saw TestReport.outcome written",),
        "canary": "pkg.abc.op__2"})
    with Store.open(path) as store:
        assert store.list_solutions()[0].evidence == () and store.list_solutions()[0].canary == ""
        store.write_solutions([(caught, "p2\n")])
        assert store.list_solutions("pkg.abc.op__1")[-1] == caught
        assert store.solution_outcomes() == {"resolved": 1, "tampered": 1}
