"""Scoring many solutions on Ray, with the driver as the one DuckDB writer.

Submissions are grouped by environment and split into chunks; each chunk is one Ray task with
its own backend, so the chunk's runs share a warm container. Verdicts come back to the driver,
which stores them in the ``solutions`` table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ray

from synth.data.store import Store
from synth.envs.backend import BackendConfig, build_backend
from synth.pipelines.factory import start_ray
from synth.records import SolutionVerdict, Task, TaskContext
from synth.verifiers.screening import patched_files
from synth.verifiers.solution import verify_solution

PATCH_SUFFIXES = (".diff", ".patch")


@dataclass(frozen=True)
class Submission:
    instance_id: str
    patch: str


class SubmissionError(ValueError):
    """A --patches input the user must fix (named in the message)."""


CANARIES = 8  # candidate canaries kept per task


def load_context(store: Store, instance_id: str) -> TaskContext:
    task = store.get_task(instance_id)
    env = store.get_environment(task.env_id)
    others = [t for t in store.list_tasks(env_id=task.env_id) if t.instance_id != task.instance_id]
    return TaskContext(task=task, environment=env, snapshot=store.get_snapshot(env.snapshot_id),
                       canaries=tuple(rank_canaries(task, others)[:CANARIES]))


def rank_canaries(task: Task, others: Iterable[Task]) -> list[Task]:
    """Other tasks of the task's environment, best canary first: those whose failing tests the
    task shares most (a forgery aimed at the task's own tests fails them too), then those in
    the task's own files (a weakened type of that module fools their tests too)."""
    mine = set(task.FAIL_TO_PASS)
    files = set(patched_files(task.patch))
    return sorted(others, key=lambda t: (-len(mine & set(t.FAIL_TO_PASS)),
                                         -len(files & set(patched_files(t.patch))),
                                         t.instance_id))


def load_contexts(store: Store, instance_ids: Iterable[str]) -> dict[str, TaskContext]:
    """Contexts keyed by the ids as given (a unique prefix names its task)."""
    return {i: load_context(store, i) for i in dict.fromkeys(instance_ids)}


def read_submissions(path: Path) -> list[Submission]:
    """A folder of INSTANCE_ID.diff / .patch files, or a JSONL file of objects with
    ``instance_id`` and ``patch`` (SWE-bench predictions' ``model_patch`` is read too)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in PATCH_SUFFIXES)
        if not files:
            raise SubmissionError(f"{path} holds no *.diff or *.patch files")
        return [Submission(p.stem, p.read_text(encoding="utf-8")) for p in files]
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            patch = row["patch"] if "patch" in row else row["model_patch"]
            out.append(Submission(str(row["instance_id"]), patch or ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise SubmissionError(
                f"{path}:{n}: expected a JSON object with instance_id and patch ({exc})"
            ) from exc
    return out


def verify_chunk(config: BackendConfig, items: Sequence[tuple[TaskContext, str]],
                 runs: int = 1) -> list[SolutionVerdict]:
    """Score solutions one after another in one backend (warm containers)."""
    backend = build_backend(config)
    try:
        # The workers keep the cores busy: each canary runs only behind a resolved verdict.
        return [verify_solution(backend, ctx, patch, runs=runs, parallel=False)
                for ctx, patch in items]
    finally:
        backend.close()


def verify_many(db: Path, submissions: Sequence[Submission], config: BackendConfig, *,
                runs: int = 1, workers: int = 2, address: str | None = None
                ) -> list[SolutionVerdict]:
    """Score every submission (in parallel on Ray) and store the verdicts; input order kept."""
    with Store.open(db) as store:
        contexts = load_contexts(store, [s.instance_id for s in submissions])
    items = [(contexts[s.instance_id], s.patch) for s in submissions]
    order = sorted(range(len(items)), key=lambda i: items[i][0].environment.env_id)
    chunks = [order[k::workers] for k in range(workers) if order[k::workers]]
    start_ray(address)
    remote = ray.remote(max_retries=2, num_cpus=1)(verify_chunk)
    refs = [remote.remote(config, [items[i] for i in chunk], runs) for chunk in chunks]
    verdicts: list[SolutionVerdict | None] = [None] * len(items)
    for chunk, ref in zip(chunks, refs, strict=True):
        for i, verdict in zip(chunk, ray.get(ref), strict=True):
            verdicts[i] = verdict
    done = [v for v in verdicts if v is not None]
    with Store.open(db) as store:
        store.write_solutions((v, items[i][1]) for i, v in enumerate(done))
    return done
