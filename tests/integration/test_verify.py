"""`synth verify` and its scoring against real runs in Docker: gold fixes resolve every task of
the sample corpus, empty patches none, and every loophole is scored on the original tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from data.store import Store
from envs.backend import Backend, RunRequest, build_backend
from pipelines.verify import Submission, verify_many
from synth.cli import app
from synth.records import RunKind, Verdict
from tests.integration.solution_kit import (
    LOOPHOLES,
    Loophole,
    contexts,
    corpus_db,
    docker_config,
    loophole_patch,
)
from verifiers.runner import run_suite
from verifiers.sanitize import combine
from verifiers.solution import Outcome, TaskContext, gold_patch, selection, verify_solution

pytestmark = pytest.mark.usefixtures("docker_engine", "ray_session")


@pytest.fixture(scope="module")
def db(sample_path: Path, cache_dir: Path) -> Path:
    return corpus_db(sample_path, cache_dir)


@pytest.fixture(scope="module")
def ctxs(db: Path) -> dict[str, TaskContext]:
    found = contexts(db)
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
    backend: Backend, ctxs: dict[str, TaskContext]
) -> None:
    for ctx in ctxs.values():
        gold = verify_solution(backend, ctx, gold_patch(ctx.task))
        assert gold.outcome is Outcome.RESOLVED, gold
        assert gold.flags == () and gold.pass_to_pass_passed == len(ctx.task.PASS_TO_PASS)
        empty = verify_solution(backend, ctx, "")
        assert empty.outcome is Outcome.UNRESOLVED and empty.fail_to_pass_passed == 0, empty


def test_a_loophole_would_work_without_restoring_the_tests(backend: Backend,
                                                            one: TaskContext) -> None:
    """The control for the loophole tests: applied raw, the conftest hook fakes a resolution."""
    conftest = next(h for h in LOOPHOLES if h.name == "conftest")
    raw = combine(one.task.patch, loophole_patch(one, conftest))
    run = run_suite(backend, one.environment, one.snapshot, kind=RunKind.SOLUTION,
                    request=RunRequest(patch=raw, select=selection(one.task)))
    assert run.verdict is Verdict.PASS, "the attack is real: scoring must be what stops it"


@pytest.mark.parametrize("hole", LOOPHOLES, ids=lambda h: h.name)
def test_a_loophole_alone_gains_nothing_and_is_flagged(backend: Backend, one: TaskContext,
                                                       hole: Loophole) -> None:
    verdict = verify_solution(backend, one, loophole_patch(one, hole))
    assert verdict.outcome is not Outcome.RESOLVED and verdict.fail_to_pass_passed == 0, verdict
    assert set(verdict.flags) == hole.flags


@pytest.mark.parametrize("hole", [h for h in LOOPHOLES if h.flags], ids=lambda h: h.name)
def test_a_real_fix_with_a_loophole_is_scored_on_the_original_tests(
    backend: Backend, one: TaskContext, hole: Loophole
) -> None:
    verdict = verify_solution(backend, one, loophole_patch(one, hole, with_fix=True))
    assert verdict.outcome is Outcome.RESOLVED, verdict
    assert set(verdict.flags) == hole.flags and verdict.dropped


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
    assert bad.exit_code == 2 and "no such file" in bad.output


def test_batch_verify_on_ray_stores_every_verdict(db: Path, ctxs: dict[str, TaskContext],
                                                  cache_dir: Path, tmp_path: Path) -> None:
    subs = [Submission(i, gold_patch(c.task)) for i, c in ctxs.items()]
    subs += [Submission(i, "") for i in ctxs]
    verdicts = verify_many(db, subs, docker_config(cache_dir), workers=2)
    assert [v.outcome for v in verdicts] == (
        [Outcome.RESOLVED] * len(ctxs) + [Outcome.UNRESOLVED] * len(ctxs))
    with Store.open(db) as store:
        stored = {v.solution_id for v in store.list_solutions()}
    assert {v.solution_id for v in verdicts} <= stored
    jsonl = tmp_path / "preds.jsonl"
    jsonl.write_text("".join(json.dumps({"instance_id": s.instance_id, "model_patch": s.patch})
                             + "\n" for s in subs[: len(ctxs)]))
    out = CliRunner().invoke(app, ["verify", "--patches", str(jsonl), "--db", str(db),
                                   "--cache-dir", str(cache_dir)])
    assert out.exit_code == 0, out.output
    assert f"resolved {len(ctxs)}/{len(ctxs)}" in out.output
