"""How strategies and statements plug into a run, without Ray or a backend: the statement a
validated task gets, and `synth run`'s strategy options."""

from __future__ import annotations

from pathlib import Path

import pytest

from synth.choices import StatementStyle
from synth.cli_mutate import strategy_options
from synth.mutate import make_patch
from synth.pipelines.flow import StrategyOptions, restate
from synth.pipelines.stages import BatchResult
from synth.records import RunKind, Snapshot, Strategy, TestStatus
from synth.statement import Style, leaks
from synth.verifiers.validation import Validated
from tests.factories import (
    make_candidate,
    make_environment,
    make_repo,
    make_result,
    make_run,
    make_snapshot,
    make_task,
)

BEFORE = "def total(price, quantity):\n    return price * quantity\n"
AFTER = BEFORE.replace("*", "//")
PATCH = make_patch("pricing.py", BEFORE, AFTER)
TESTS = "from pricing import total\n\n\ndef test_total():\n    assert total(2, 3) == 6\n"


def _snapshot(tmp_path: Path) -> Snapshot:
    (tmp_path / "tests").mkdir()
    (tmp_path / "pricing.py").write_text(BEFORE)
    (tmp_path / "tests" / "test_pricing.py").write_text(TESTS)
    return make_snapshot(make_repo("pricing", source=str(tmp_path)), path=str(tmp_path))


def _validated(snapshot: Snapshot, seed: int = 0) -> Validated:
    cand = make_candidate(snapshot, patch=PATCH, seed=seed, target_file="pricing.py",
                          target_entities=("total",))
    results = (
        make_result("tests/test_pricing.py::test_total", TestStatus.FAILED,
                    message="AssertionError: assert 0 == 6"),
        make_result("tests/test_pricing.py::test_other", TestStatus.PASSED),
    )
    env = make_environment(snapshot)
    run = make_run(results=results, kind=RunKind.BUG, env_id=env.env_id, patch_hash="p")
    task = make_task(
        snapshot,
        cand,
        env,
        problem_statement="old",
        FAIL_TO_PASS=(results[0].test_id,),
        PASS_TO_PASS=(results[1].test_id,),
    )
    return Validated(cand, (run,), task)


def test_restate_writes_the_chosen_style_with_a_reproduction(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path)
    result = BatchResult((_validated(snapshot),))
    options = StrategyOptions(style=Style.STORY)
    (done,) = restate(result, snapshot, tmp_path / "cache", options).validated
    assert done.task is not None and done.task.problem_statement != "old"
    text = done.task.problem_statement
    assert "def test_total():\n    assert total(2, 3) == 6" in text
    assert "AssertionError: assert 0 == 6" in text and leaks(text, PATCH) == []
    assert done.task.model_copy(update={"problem_statement": "old"}) == result.validated[0].task


def test_restate_picks_styles_by_seed_and_leaves_rejections_alone(tmp_path: Path) -> None:
    snapshot = _snapshot(tmp_path)
    texts = {
        restate(BatchResult((_validated(snapshot, seed),)), snapshot, tmp_path, StrategyOptions())
        .validated[0]
        .task.problem_statement  # type: ignore[union-attr]
        for seed in range(12)
    }
    assert len(texts) >= 3
    rejected = Validated(_validated(snapshot).candidate, ())
    assert restate(BatchResult((rejected,)), snapshot, tmp_path, StrategyOptions()).validated == (
        rejected,
    )


def test_strategy_options_from_the_command_line() -> None:
    """Unknown strategies and styles never get here: typer refuses them (test_cli_options)."""

    def parse(strategies: list[Strategy] | None = None, **kw: object) -> StrategyOptions:
        args = dict(max_fixes=3, max_combined=2, lm_url=None, lm_model=None)
        args.update(kw)
        return strategy_options(strategies, **args)  # type: ignore[arg-type]

    assert parse().strategies == {Strategy.PROCEDURAL} and parse().style is None
    options = parse(list(Strategy), statement_style=StatementStyle.CI)
    assert options.strategies == set(Strategy) and options.style is Style.CI
    assert options.fix_limits.max_commits == 3 and options.max_combined == 2
    lm = parse(lm_url="http://127.0.0.1:9/v1", lm_model="m").lm
    assert lm is not None and lm.model == "m"
    for bad, why in [
        (dict(strategies=[Strategy.COMBINE]), "add --strategy procedural"),
        (dict(lm_url="http://127.0.0.1:9/v1"), "go together"),
        (dict(lm_url="127.0.0.1:9", lm_model="m"), "http"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse(**bad)  # type: ignore[arg-type]


def test_funnel_table_shows_each_step_as_a_share_of_what_was_generated() -> None:
    from rich.console import Console

    from synth.cli_mutate import funnel_table, generation_by
    from synth.data.store import FunnelRow

    rows = [FunnelRow(key="arith_swap", generated=8, broke=5, validated=4, rejected_by_reason={})]
    tried, dropped = {"arith_swap": 10}, {"arith_swap": {"duplicate": 2}}
    console = Console(width=160, record=True)
    console.print(funnel_table("operator", rows, tried=tried, dropped=dropped))
    text = console.export_text()
    row = "arith_swap │        10 │ 8 (80%) │       5 (50%) │   4 (40%) │ dropped duplicate 2"
    assert row in text
    assert generation_by("strategy", tried, dropped) == (
        {"procedural": 10},
        {"procedural": {"duplicate": 2}},
    )
    assert generation_by("repo", tried, dropped) == (None, None)
    console.print(funnel_table("operator", rows))  # `synth stats`: no generation counts
    assert "generated" not in console.export_text().split("funnel by operator")[-1]


def test_batches_go_near_the_node_that_holds_their_environment() -> None:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from synth.pipelines.stages import near

    assert near("") == {}  # outside Ray: no preference
    node = "ab" * 28  # Ray's node ids: 28 bytes in hex
    strategy = near(node)["scheduling_strategy"]
    assert isinstance(strategy, NodeAffinitySchedulingStrategy)
    assert strategy.node_id == node and strategy.soft  # another node when that one is gone


def test_the_driver_hands_the_flow_only_its_own_stages() -> None:
    from synth.pipelines.flow import Stage, StrategyFlow

    assert {s for s in Stage if StrategyFlow.handles(s)} == {Stage.FIXES, Stage.FIX_BUILT,
                                                              Stage.COMBINED}


def test_a_retried_batch_is_named_not_placed() -> None:
    """Retrying finds the batch by its argument's name: a positional batch is refused before
    anything is submitted."""
    from synth.pipelines.retry import Retrying

    calls = Retrying(object(), items="candidates")
    with pytest.raises(TypeError, match="candidates="):
        calls.remote("backend", ["a batch"])
    assert calls.attempts == {}
