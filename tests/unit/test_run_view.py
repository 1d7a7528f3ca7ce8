"""The progress line of a long `synth run`: repositories done, tasks, rate, ETA."""

from synth.run_view import RATE_WINDOW_S, RunView


def test_line_counts_repos_tasks_and_candidates():
    view = RunView(repos=3, started=0.0)
    view.add_scheduled(100, "a", 1.0)
    view.add_decided(20, "a", now=10.0)
    view.add_tasks(15, now=10.0)
    view.repo_done()
    line = view.line(now=10.0)
    assert "repos 1/3 done" in line
    assert "tasks 15" in line
    assert "candidates 20/100 decided" in line
    assert "5400 tasks/h" in line  # 15 tasks in 10 s
    # 80 candidates left at 2 per second, and two repositories still to come
    assert "ETA 40s for the candidates known so far" in line


def test_eta_weighs_what_is_left_by_what_it_costs():
    """A run that starts on a slow repository must not promise a day for the fast ones."""
    view = RunView(repos=2, started=0.0)
    view.add_scheduled(10, "slow", 9.0)  # 9 CPU-s a candidate
    view.add_scheduled(300, "fast", 0.3)
    view.add_decided(10, "slow", now=90.0)  # 90 s of work done in 90 s
    # 300 x 0.3 = 90 s of work left at that pace, not 300 candidates at 1 per 9 s (45 min)
    assert abs(view.eta_s(now=90.0) - 90.0) < 1e-6
    view.add_decided(150, "fast", now=135.0)
    assert abs(view.eta_s(now=135.0) - 45.0) < 1e-6


def test_eta_follows_the_recent_rate_not_the_whole_run():
    view = RunView(repos=1, started=0.0)
    view.repo_done()
    view.add_scheduled(1000, "a", 1.0)
    view.add_decided(100, "a", now=100.0)  # a fast start: 1 per second
    late = 100.0 + 2 * RATE_WINDOW_S
    view.add_decided(10, "a", now=late - RATE_WINDOW_S / 2)
    view.add_decided(10, "a", now=late)  # then 10 in half a window
    per_s, _ = view.rates(now=late)
    assert per_s < 0.1  # the old burst has left the window
    assert view.eta_s(now=late) > 10 * 60


def test_before_any_candidate_is_decided():
    view = RunView(repos=2, started=0.0)
    assert "preparing repositories" in view.line(now=5.0)
    view.add_scheduled(8, "a", 0.5)
    assert "ETA —" in view.line(now=6.0)
    view.add_decided(8, "a", now=7.0)
    view.repo_done()
    view.repo_done()
    assert "ETA 0s" in view.line(now=8.0)
    assert "candidates 8/8" in view.line(now=8.0)
