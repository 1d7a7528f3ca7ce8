"""`synth verify` and its scoring against real runs in Docker: gold fixes resolve every task of
the sample corpus, empty patches none, and every loophole is scored on the original tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.data.store import Store
from synth.envs.backend import Backend, RunRequest, build_backend
from synth.pipelines.verify import Submission, verify_many
from synth.records import Outcome, RunKind, SolutionFlag, TaskContext, Verdict
from synth.verifiers.runner import run_suite
from synth.verifiers.sanitize import combine
from synth.verifiers.solution import gold_patch, selection, verify_solution
from tests.integration.solution_kit import (
    FORGE_REPORT,
    LOOPHOLES,
    NO_SECRET_EXIT,
    Loophole,
    contexts,
    docker_config,
    loophole_patch,
)

pytestmark = pytest.mark.usefixtures("docker_engine", "ray_session")


@pytest.fixture
def db(docker_corpus_copy: Path) -> Path:
    """This test's copy of the corpus: verify stores the verdicts it scores."""
    return docker_corpus_copy


@pytest.fixture(scope="module")
def ctxs(docker_corpus: Path) -> dict[str, TaskContext]:
    found = contexts(docker_corpus)
    assert len(found) >= 2
    return found


@pytest.fixture(scope="module")
def backend(cache_dir: Path) -> Iterator[Backend]:
    warm = build_backend(docker_config(cache_dir))
    yield warm
    warm.close()


@pytest.fixture(scope="module")
def one(ctxs: dict[str, TaskContext]) -> TaskContext:
    return ctxs[sorted(ctxs)[0]]


def test_gold_fixes_resolve_every_task_and_empty_patches_none(
    db: Path, ctxs: dict[str, TaskContext], cache_dir: Path
) -> None:
    """The whole sample corpus, scored as a batch on Ray, every verdict stored."""
    subs = [Submission(i, gold_patch(c.task)) for i, c in ctxs.items()]
    subs += [Submission(i, "") for i in ctxs]
    verdicts = verify_many(db, subs, docker_config(cache_dir), workers=2)
    gold, empty = verdicts[: len(ctxs)], verdicts[len(ctxs):]
    assert [v.outcome for v in gold] == [Outcome.RESOLVED] * len(ctxs), gold
    assert [v.outcome for v in empty] == [Outcome.UNRESOLVED] * len(ctxs), empty
    for v in gold:
        assert v.flags == () and v.pass_to_pass_passed == v.pass_to_pass_total
    assert all(v.fail_to_pass_passed == 0 for v in empty)
    with Store.open(db) as store:
        stored = {v.solution_id for v in store.list_solutions()}
    assert {v.solution_id for v in verdicts} <= stored


def test_a_loophole_would_work_without_restoring_the_tests(backend: Backend,
                                                            one: TaskContext) -> None:
    """The control for the loophole tests: applied raw, the conftest hook fakes a resolution."""
    conftest = next(h for h in LOOPHOLES if h.name == "conftest")
    raw = combine(one.task.patch, loophole_patch(one, conftest))
    run = run_suite(backend, one.environment, one.snapshot, kind=RunKind.SOLUTION,
                    request=RunRequest(patch=raw, select=selection(one.task)))
    assert run.verdict is Verdict.PASS, "the attack is real: scoring must be what stops it"


FLAGGED = [h for h in LOOPHOLES if h.flags]  # fully covered by restoring files: one run


def test_every_restorable_loophole_gains_nothing_and_is_flagged(backend: Backend,
                                                                 one: TaskContext) -> None:
    """Test edits, deleted tests, conftest.py, a pytest plugin, pytest config, sitecustomize and
    a shadowing pytest.py, all in one solution (each one's flag is unit-tested on its own)."""
    verdict = verify_solution(backend, one, loophole_patch(one, *FLAGGED))
    assert verdict.outcome is Outcome.UNRESOLVED and verdict.fail_to_pass_passed == 0, verdict
    assert set(verdict.flags) == set().union(*(h.flags for h in FLAGGED))


def test_a_real_fix_with_every_loophole_is_scored_on_the_original_tests(
    backend: Backend, one: TaskContext
) -> None:
    verdict = verify_solution(backend, one, loophole_patch(one, *FLAGGED, with_fix=True))
    assert verdict.outcome is Outcome.RESOLVED, verdict
    assert "conftest.py" in verdict.dropped and "pytest.ini" in verdict.dropped


@pytest.mark.parametrize("hole", [h for h in LOOPHOLES if not h.flags], ids=lambda h: h.name)
def test_a_loophole_inside_the_source_gains_nothing(backend: Backend, one: TaskContext,
                                                   hole: Loophole) -> None:
    """Skipping, exiting early, printing PASSED lines: code changes the report sees through."""
    verdict = verify_solution(backend, one, loophole_patch(one, hole))
    assert verdict.outcome in (Outcome.UNRESOLVED, Outcome.ERROR), verdict
    assert verdict.fail_to_pass_passed == 0 and verdict.flags == ()


def test_a_report_forged_from_inside_the_tests_process_is_refused(backend: Backend,
                                                                   one: TaskContext) -> None:
    """Regression: run raw, this source-only change read the nonce from /proc/self/environ,
    wrote an all-passed report, exited 0, and was scored resolved. The nonce no longer enters
    any environment (a private file the plugin deletes on load), so the bare harness sees
    through it too; the refusal stays, because code in pytest's process can still reach the
    plugin's memory."""
    patch = loophole_patch(one, FORGE_REPORT)
    raw = run_suite(backend, one.environment, one.snapshot, kind=RunKind.SOLUTION,
                    request=RunRequest(patch=combine(one.task.patch, patch),
                                       select=selection(one.task)))
    assert raw.verdict is not Verdict.PASS, "the /proc/self/environ forgery must not work"
    # The payload ran and found no secret in its environment (a harness that put the nonce
    # there again would see it forge a report instead).
    assert raw.exit_code == NO_SECRET_EXIT, (raw.exit_code, raw.log_tail[-500:])
    verdict = verify_solution(backend, one, patch)
    assert verdict.outcome is Outcome.TAMPERED and verdict.runs == 0
    assert verdict.flags == (SolutionFlag.HARNESS_PROBE,) and verdict.evidence


def test_cli_verify_single_json_and_exit_codes(db: Path, one: TaskContext, cache_dir: Path,
                                               tmp_path: Path) -> None:
    runner = CliRunner()
    iid = one.task.instance_id
    common = ["--db", str(db), "--cache-dir", str(cache_dir)]
    gold = runner.invoke(app, ["verify", iid[:-2], "--gold", "--json", *common])
    assert gold.exit_code == 0, gold.output
    shown = json.loads(gold.output)
    assert shown["outcome"] == "resolved" and len(shown["tests"]) == len(selection(one.task))
    empty = tmp_path / "empty.diff"
    empty.write_text("")
    out = runner.invoke(app, ["verify", iid, "--patch", str(empty), *common])
    assert out.exit_code == 1 and "unresolved" in out.output
    bad = runner.invoke(app, ["verify", iid, "--patch", str(tmp_path / "nope"), *common])
    assert bad.exit_code == 2 and "no such file" in " ".join(bad.output.split())
    forged = tmp_path / "forged.diff"
    forged.write_text(loophole_patch(one, FORGE_REPORT))
    out = runner.invoke(app, ["verify", iid, "--patch", str(forged), *common])
    assert out.exit_code == 1 and "tampered" in out.output and "harness" in out.output
    stats = runner.invoke(app, ["stats", "--db", str(db)])
    assert stats.exit_code == 0 and "tampered" in stats.output.split("solutions scored:")[1]


def test_cli_verify_batch_reads_swebench_style_predictions(
    db: Path, one: TaskContext, cache_dir: Path, tmp_path: Path
) -> None:
    jsonl = tmp_path / "preds.jsonl"
    jsonl.write_text(json.dumps({"instance_id": one.task.instance_id,
                                 "model_patch": gold_patch(one.task)}) + "\n")
    out = CliRunner().invoke(app, ["verify", "--patches", str(jsonl), "--db", str(db),
                                   "--cache-dir", str(cache_dir), "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert "resolved 1/1" in out.output
