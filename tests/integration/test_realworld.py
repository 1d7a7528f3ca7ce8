"""Real repositories in, tasks out: git bundles of public projects, each chosen for a trap that
stored nothing before, mined in one `synth run` with the Docker backend and no per-repo setting.

- iniconfig: src/ layout, version from git tags (hatch-vcs), and pytest itself imports it (runs
  need a fresh interpreter: a fork of the test server holds the released copy).
- platformdirs: src/ layout, a version module that only its build generates, tests that run
  ``python -m platformdirs``, test deps in a PEP 735 group.
- sqlparse: test deps only in a PEP 735 ``dev`` group (full of docs tools), a console script.
- wcwidth: a package that re-exports its modules (``from .x import *``), test deps only in a
  pinned requirements file (an old pytest).
- tomlkit: a test module that reads a git submodule the bundle lacks (cannot be collected),
  test deps only in a Poetry group with caret pins.

The bundles live beside the checkout (../shared/realworld, or SYNTH_REALWORLD); the test skips
where they are absent.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synth.cli import app
from synth.data.store import Store
from synth.records import SetupVerdict

pytestmark = [pytest.mark.docker, pytest.mark.network]
BUNDLES = Path(os.environ.get("SYNTH_REALWORLD")
               or Path(__file__).resolve().parents[3] / "shared" / "realworld")
TRAPS = ("iniconfig", "platformdirs", "sqlparse", "wcwidth", "tomlkit")
runner = CliRunner()


@pytest.fixture(scope="module")
def mined(tmp_path_factory, cache_dir: Path, docker_engine, ray_session) -> Path:
    missing = [n for n in TRAPS if not (BUNDLES / f"{n}.bundle").exists()]
    if missing:
        pytest.skip(f"no real-world bundles at {BUNDLES} ({', '.join(missing)} missing)")
    db = tmp_path_factory.mktemp("realworld") / "corpus.duckdb"
    result = runner.invoke(app, [
        "run", *(str(BUNDLES / f"{n}.bundle") for n in TRAPS), "--backend", "docker",
        "--max-candidates", "6", "--seed", "0", "--db", str(db), "--cache-dir", str(cache_dir),
    ])
    assert result.exit_code == 0, result.output
    return db


def test_each_real_repository_reaches_ok_and_yields_a_validated_task(mined: Path) -> None:
    with Store.open(mined) as store:
        setups = {s.repo: s for s in store.list_setups()}
        tasks = store.list_tasks()
    for name in TRAPS:
        assert setups[name].verdict is SetupVerdict.OK, setups[name]
        assert setups[name].passing > 0
        assert any(t.repo == name for t in tasks), f"{name}: no validated task"


def test_the_submodule_test_module_costs_only_its_own_tests(mined: Path) -> None:
    with Store.open(mined) as store:
        setup = next(s for s in store.list_setups() if s.repo == "tomlkit")
    # Left out up front (it names the submodule) or, failing that, at collection.
    said = (*setup.excluded, *setup.adjustments)
    assert any("tests/test_toml_tests.py" in line for line in said), said
    assert setup.passing >= 350  # the manifest: 371 with that module ignored by hand


def test_a_version_from_git_tags_and_generated_files_reach_the_environment(mined: Path) -> None:
    with Store.open(mined) as store:
        setup = next(s for s in store.list_setups() if s.repo == "platformdirs")
    notes = " ".join(setup.adjustments)
    assert "from the git tags" in notes and "src/platformdirs/version.py" in notes



# One attack of each class that resolved on real tasks before the defences (the whole suite runs
# on the sample corpus in test_attacks.py; /tmp runs of all 24 on real corpora are in the README).
REAL_ATTACKS = ("call_and_report", "from_item_and_call", "pristine_exec", "octal_tests",
                "split_forge", "eq_everything", "profile_neutralise")


def test_on_real_tasks_gold_resolves_and_no_attack_earns_a_reward(mined: Path,
                                                                   cache_dir: Path) -> None:
    """Reward integrity on real repositories: for one task of each, the gold fix resolves, the
    empty patch does not, and no attack earns anything (iniconfig's runs are fresh interpreters,
    since pytest itself imports it: the witness and canary hold there too)."""
    from synth.envs.backend import build_backend
    from synth.pipelines.verify import load_contexts
    from synth.records import Outcome
    from synth.verifiers.solution import gold_patch, reward, verify_solution
    from tests.integration.attacks import ATTACKS
    from tests.integration.solution_kit import docker_config

    attacks = [a for a in ATTACKS if a.name in REAL_ATTACKS]
    with Store.open(mined) as store:
        firsts = {}
        for task in sorted(store.list_tasks(), key=lambda t: t.instance_id):
            firsts.setdefault(task.repo, task.instance_id)
        ctxs = load_contexts(store, list(firsts.values()))
    backend = build_backend(docker_config(cache_dir))
    won, gold = [], {}
    try:
        for instance_id, ctx in ctxs.items():
            gold[instance_id] = verify_solution(backend, ctx, gold_patch(ctx.task)).outcome
            assert verify_solution(backend, ctx, "").outcome is Outcome.UNRESOLVED
            for attack in attacks:
                verdict = verify_solution(backend, ctx, attack.make(ctx))
                if verdict.outcome is Outcome.RESOLVED or reward(verdict) > 0:
                    won.append((attack.name, instance_id))
    finally:
        backend.close()
    assert set(gold.values()) == {Outcome.RESOLVED}, gold
    assert won == []


BROKEN_TESTS = """
import nonexistent_synth_dependency


def test_uses_it():
    assert nonexistent_synth_dependency.VALUE == 1
"""


def test_a_broken_environment_gets_its_verdict_a_cause_and_a_nonzero_exit(
        mined: Path, tmp_path: Path, cache_dir: Path) -> None:
    """A requirement that cannot exist, which the tests import: the run names the source and
    the cause, exits non-zero, and leaves every row already in the store as it was."""
    repo = tmp_path / "brokenrepo"
    (repo / "tests").mkdir(parents=True)
    (repo / "brokenrepo.py").write_text("VALUE = 1\n")
    (repo / "tests" / "test_broken.py").write_text(textwrap.dedent(BROKEN_TESTS))
    (repo / "pyproject.toml").write_text(textwrap.dedent("""
        [project]
        name = "brokenrepo"
        version = "0"
        dependencies = ["nonexistent-synth-dependency==99.0"]
    """))
    with Store.open(mined) as store:
        before = sorted(t.instance_id for t in store.list_tasks())
    result = runner.invoke(app, ["run", str(repo), "--backend", "docker", "--max-candidates",
                                 "4", "--db", str(mined), "--cache-dir", str(cache_dir)])
    assert result.exit_code != 0, result.output
    assert "brokenrepo" in result.output
    with Store.open(mined) as store:
        setup = next(s for s in store.list_setups() if s.repo == "brokenrepo")
        after = sorted(t.instance_id for t in store.list_tasks())
    assert setup.verdict is SetupVerdict.COLLECTION_FAILED, setup
    assert "nonexistent_synth_dependency" in setup.message
    assert "\n" not in setup.message
    assert after == before
