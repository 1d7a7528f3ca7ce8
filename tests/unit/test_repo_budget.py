"""`synth run --repo-budget`: a repository's candidates are capped by what its suite costs."""

from synth.pipelines.stages import budget_cap
from synth.verifiers.validation import Measured
from tests.factories import make_run


def _measured(*cpus: float | None) -> Measured:
    runs = tuple(make_run({"t": "passed"}, attempt=i, cpu_s=cpu) for i, cpu in enumerate(cpus))
    return Measured(runs, None, None)


def test_no_budget_leaves_the_count_alone():
    assert budget_cap(_measured(2.0, 2.0), 500, None) == (500, "")


def test_a_slow_suite_gets_few_candidates_and_a_fast_one_many():
    slow, note = budget_cap(_measured(170.0, 190.0), 500, 900.0)
    assert slow == 5  # 900 s at 180 s a run
    assert "capped at 5 by --repo-budget 900 s" in note
    fast, note = budget_cap(_measured(0.5, 0.5, 0.5), 500, 900.0)
    assert (fast, note) == (500, "")  # 1800 would fit: the count binds, no note


def test_at_least_one_candidate_and_unmeasured_cpu_is_no_cap():
    assert budget_cap(_measured(5000.0), 500, 60.0)[0] == 1
    assert budget_cap(_measured(None, None), 500, 60.0) == (500, "")
