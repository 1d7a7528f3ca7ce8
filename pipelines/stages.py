"""The factory's stages as plain functions of records: what Ray schedules, testable without Ray.

prepare_repo: SOURCE → snapshot, environment, baseline runs, candidates.
validate_batch: candidates → each with its runs and either a Task or a rejection reason.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import git

from envs.backend import BackendConfig, build_backend
from envs.spec import infer_spec, read_config_files
from synth.intake import parse_source, source_files, take
from synth.mutate import generate_candidates, is_test_file
from synth.records import (
    Candidate,
    Environment,
    RepoRef,
    RunKind,
    Snapshot,
    Task,
    TestRun,
    content_hash,
)
from synth.statement import render_statement
from verifiers.grading import Baseline, baseline_of, first_run_broke_something, grade
from verifiers.runner import run_baseline, run_suite

BUG_RUNS = 2  # a bug must fail the same tests twice: one failing run may be a flake
# A mutation can make a loop endless; a bug run then holds a worker until its timeout. The clean
# suite's own duration says how long a run should take: allow a multiple of it (with a floor for
# a loaded machine), never more than the user's limit.
BUG_TIMEOUT_FACTOR = 5.0
BUG_TIMEOUT_FLOOR_S = 30.0


@dataclass(frozen=True)
class Prepared:
    repo: RepoRef
    snapshot: Snapshot
    environment: Environment
    baseline_runs: tuple[TestRun, ...]
    candidates: tuple[Candidate, ...]
    note: str = ""

    @property
    def baseline(self) -> Baseline:
        return baseline_of(self.baseline_runs)


@dataclass(frozen=True)
class Validated:
    candidate: Candidate
    runs: tuple[TestRun, ...]
    task: Task | None = None


@dataclass(frozen=True)
class BatchResult:
    validated: tuple[Validated, ...] = field(default_factory=tuple)


def prepare_repo(
    source: str, backend: BackendConfig, *, max_candidates: int, seed: int
) -> Prepared:
    ref = parse_source(source)
    snapshot = take(ref, backend.cache_dir / "snapshots")
    root = Path(snapshot.path)
    tree = git.Repo(root).git.ls_files().splitlines()
    spec = infer_spec(read_config_files(root), tree)
    runner = build_backend(backend)
    env = runner.prepare(snapshot, spec)
    baseline, runs = run_baseline(runner, env, snapshot)
    note = ""
    candidates: tuple[Candidate, ...] = ()
    if baseline.usable:
        files = source_files(snapshot)
        targets = mutation_targets(files, spec.test_paths)
        candidates = tuple(
            generate_candidates(
                snapshot.snapshot_id, targets, max_candidates=max_candidates, seed=seed
            )
        )
    else:
        note = "no test passes on the clean repository: nothing can be validated"
    return Prepared(ref, snapshot, env, tuple(runs), candidates, note)


def mutation_targets(files: Mapping[str, str], test_paths: Sequence[str]) -> dict[str, str]:
    """Source files the tests import: mutating code no test reaches yields only rejections.

    A declared test path may be a helpers folder (all of it is test code) or the package itself
    (``testpaths = pkg`` with ``pkg/tests`` inside): it is the package when the tests import
    non-test modules from under it, and then only the files that look like tests are tests.
    """
    imported: set[str] = set()
    for path, text in files.items():
        if is_test_file(path) or _under(path, test_paths):
            imported |= _imported_modules(text)
    packages = {
        root
        for root in test_paths
        if any(
            _under(p, [root]) and not is_test_file(p) and _module_names(p) & imported for p in files
        )
    }
    helper_dirs = [root for root in test_paths if root not in packages]
    sources = {
        p: t
        for p, t in files.items()
        if not is_test_file(p)
        and not _under(p, helper_dirs)
        and p.rsplit("/", 1)[-1] not in ("setup.py", "conftest.py")
        and not p.startswith(("docs/", "doc/", "examples/", "benchmarks/"))
    }
    reached = {p: t for p, t in sources.items() if _module_names(p) & imported}
    return reached or sources


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots if r != ".")


def _imported_modules(text: str) -> set[str]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def _module_names(path: str) -> set[str]:
    """Every dotted name a file can be imported as (flat and src layouts)."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if parts and parts[0] == "src":
        parts = parts[1:]
    return {".".join(parts[i:]) for i in range(len(parts)) if parts[i:]}


def validate_batch(
    backend: BackendConfig,
    prepared_env: Environment,
    snapshot: Snapshot,
    baseline_runs: Sequence[TestRun],
    candidates: Sequence[Candidate],
    *,
    bug_runs: int = BUG_RUNS,
) -> BatchResult:
    runner = build_backend(bug_run_config(backend, baseline_runs))
    baseline = baseline_of(baseline_runs)
    out = []
    for cand in candidates:
        runs = [
            run_suite(runner, prepared_env, snapshot, kind=RunKind.BUG, patch=cand.patch, attempt=0)
        ]
        if first_run_broke_something(baseline, runs[0]):
            for attempt in range(1, bug_runs):
                runs.append(
                    run_suite(
                        runner,
                        prepared_env,
                        snapshot,
                        kind=RunKind.BUG,
                        patch=cand.patch,
                        attempt=attempt,
                    )
                )
        verdict = grade(baseline, runs)
        if verdict.rejection is not None:
            out.append(
                Validated(cand.model_copy(update={"rejection": verdict.rejection}), tuple(runs))
            )
            continue
        failing = [r for r in runs[0].results if r.test_id in set(verdict.fail_to_pass)]
        task = Task(
            instance_id=instance_id(snapshot, cand),
            repo=snapshot.repo.name,
            base_commit=snapshot.commit,
            patch=cand.patch,
            problem_statement=render_statement(snapshot.repo.name, failing, cand.patch),
            FAIL_TO_PASS=verdict.fail_to_pass,
            PASS_TO_PASS=verdict.pass_to_pass,
            image_name=prepared_env.image_name,
            env_id=prepared_env.env_id,
            candidate_id=cand.candidate_id,
            strategy=cand.strategy,
            operator=cand.operator,
            seed=cand.seed,
        )
        out.append(Validated(cand, tuple(runs), task))
    return BatchResult(tuple(out))


def bug_run_config(backend: BackendConfig, baseline_runs: Sequence[TestRun]) -> BackendConfig:
    slowest = max((r.duration_s for r in baseline_runs), default=0.0)
    timeout = min(backend.limits.timeout_s, max(BUG_TIMEOUT_FLOOR_S, BUG_TIMEOUT_FACTOR * slowest))
    limits = backend.limits.model_copy(update={"timeout_s": timeout})
    return backend.model_copy(update={"limits": limits})


def instance_id(snapshot: Snapshot, cand: Candidate) -> str:
    """SWE-smith-like: repo, commit, operator and a hash — readable and stable across reruns."""
    digest = content_hash(cand.candidate_id, length=8)
    return f"{snapshot.repo.name}.{snapshot.commit[:8]}.{cand.operator}__{digest}"
