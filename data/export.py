"""Corpus exports in the formats the field reads: SWE-bench and SWE-smith instances, Parquet.

* ``parquet``: one row per task with its metadata (candidate, environment, lock, source), written
  by DuckDB's COPY; pyarrow and Hugging Face ``datasets`` read it as it is.
* ``swebench`` / ``swesmith``: a folder (see :data:`LAYOUT`) with ``instances.jsonl`` and what a
  harness needs besides: a git bundle per snapshot holding one commit per task
  (:mod:`data.task_repo`), the environment's build context (Dockerfile, wheel lock) and, for
  SWE-bench, a thin per-task Dockerfile whose image holds the bug at ``base_commit``.

Field mapping (also in the README): SWE-bench's ``base_commit`` is the task's bug commit and its
``patch`` the fix (the bug reversed); ``environment_setup_commit`` is the clean commit the
environment was built from; ``version`` is the environment id. SWE-smith's ``patch`` is the bug
diff itself, applied to ``base_commit`` (the clean commit), as in SWE-smith's own datasets.

Nothing is half-written: every export is built beside its destination and renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import git

from synth.choices import ExportFormat
from synth.data.store import Store
from synth.data.task_metrics import (
    COLUMNS,
    METRICS_SQL,
    Condition,
    MetricsError,
    backfill,
    is_condition,
    parse_condition,
    select,
)
from synth.data.task_repo import (
    IDENTITY,
    TaskCommit,
    branch_name,
    bundle_name,
    commit_message,
)
from synth.envs.names import ImageNames
from synth.intake import ensure_snapshot
from synth.records import (
    HARNESS_VERSION,
    BackendKind,
    Environment,
    Record,
    Snapshot,
    Strategy,
    Task,
    utcnow,
)

INSTANCES = "instances.jsonl"
MANIFEST = "export.json"
LAYOUT = """\
instances.jsonl           one instance per line
export.json               what was exported, from which store, when
repos/NAME-COMMIT.bundle  git bundle: branch main (the clean commit) + one branch per task
environments/ENV_ID/      Dockerfile, lock.txt, environment.json, runner.py, forkserver.py,
                          synth_report.py
tasks/INSTANCE_ID/        (swebench) Dockerfile + bug.patch: the environment with the bug
"""
HARBOR_LAYOUT = """\
export.json               what was exported, from which store
tasks/INSTANCE_ID/        a Harbor task folder: instruction.md, task.toml, environment/,
                          tests/test.sh, solution/solve.sh (see data/harbor.py)
repos/NAME-COMMIT.bundle  git bundle: branch main (the clean commit) + one branch per task
environments/ENV_ID/      the build context of the image each task's Dockerfile starts FROM
"""
LOG_PARSER = "parse_log_pytest"  # SWE-bench's parser of `pytest -rA` output
EVAL_TYPE = "pass_and_fail"
START_MARK, END_MARK = ">>>>> Start Test Output", ">>>>> End Test Output"


class ExportError(Exception):
    """An export the user asked for cannot be made; the message says what to change."""


class TaskFilter(Record):
    """Which tasks to export: values of one key are alternatives, different keys all apply."""

    repos: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    strategies: tuple[Strategy, ...] = ()
    instance_ids: tuple[str, ...] = ()  # full ids or prefixes
    env_ids: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    # Comparisons on the accounting columns (data.task_metrics): cpu_s<=30, steady=true.
    conditions: tuple[Condition, ...] = ()

    def matches(self, task: Task) -> bool:
        return (
            (not self.repos or task.repo in self.repos)
            and (not self.operators or task.operator in self.operators)
            and (not self.strategies or task.strategy in self.strategies)
            and (not self.instance_ids or task.instance_id.startswith(self.instance_ids))
            and (not self.env_ids or task.env_id in self.env_ids)
            and (self.since is None or task.created_at >= self.since)
            and (self.until is None or task.created_at < self.until)
        )


_FILTER_KEYS = {
    "repo": "repos",
    "operator": "operators",
    "strategy": "strategies",
    "instance_id": "instance_ids",
    "env_id": "env_ids",
    "since": "since",
    "until": "until",
}


def parse_filters(items: Iterable[str]) -> TaskFilter:
    """``["repo=ledger", "operator=arith_swap", "since=2026-01-01"]`` → a TaskFilter."""
    lists: dict[str, list[str]] = {}
    bounds: dict[str, datetime] = {}
    conditions = []
    for item in items:
        if is_condition(item):
            try:
                conditions.append(parse_condition(item))
            except MetricsError as exc:
                raise ExportError(str(exc)) from None
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in _FILTER_KEYS or not value:
            raise ExportError(
                f"--filter {item!r}: write KEY=VALUE with KEY one of "
                f"{', '.join(sorted(_FILTER_KEYS))} (e.g. --filter repo=ledger), or compare an "
                "accounting column (e.g. --filter 'cpu_s<=30'; see `synth tasks list --help`)"
            )
        if key in ("since", "until"):
            bounds[key] = _parse_time(key, value)
        elif key == "strategy" and value not in {s.value for s in Strategy}:
            raise ExportError(
                f"--filter strategy={value}: choose one of {', '.join(s.value for s in Strategy)}"
            )
        else:
            lists.setdefault(_FILTER_KEYS[key], []).append(value)
    fields: dict[str, object] = {name: tuple(values) for name, values in lists.items()}
    return TaskFilter.model_validate({**fields, **bounds, "conditions": tuple(conditions)})


def _parse_time(key: str, value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ExportError(
            f"--filter {key}={value}: not a date; write e.g. {key}=2026-01-31 or "
            f"{key}=2026-01-31T12:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class SWEbenchInstance(Record):
    """SWE-bench's instance fields, plus what its v5 harness reads to run one (image, eval_script,
    log_parser, eval_type) and the factory's own environment reference."""

    instance_id: str
    repo: str
    base_commit: str  # the task's bug commit (in repos/*.bundle, branch = instance_id)
    patch: str  # the fix: applied to base_commit it gives back the clean tree
    test_patch: str  # empty: the tests are unchanged, the code is broken
    problem_statement: str
    hints_text: str
    created_at: str
    version: str  # the environment id: instances of one version share one environment
    FAIL_TO_PASS: tuple[str, ...]
    PASS_TO_PASS: tuple[str, ...]
    environment_setup_commit: str  # the clean commit the environment was built from
    image: str  # per-task image, built from tasks/INSTANCE_ID/Dockerfile
    eval_script: str
    log_parser: str
    eval_type: str
    image_name: str  # the shared environment image, built from environments/ENV_ID/Dockerfile
    env_id: str


class SWEsmithInstance(Record):
    """SWE-smith's task-instance fields: ``patch`` is the bug, applied to ``base_commit``."""

    instance_id: str
    repo: str
    base_commit: str  # the clean commit, installed in image_name
    patch: str  # the bug diff
    problem_statement: str
    FAIL_TO_PASS: tuple[str, ...]
    PASS_TO_PASS: tuple[str, ...]
    image_name: str
    created_at: str


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    tasks: int
    bundles: int = 0
    environments: int = 0
    warnings: tuple[str, ...] = ()


def timestamp(when: datetime) -> str:
    """SWE-bench's created_at style: ISO 8601 in UTC with a Z."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def env_image_name(snapshot: Snapshot) -> str:
    """The Docker image an environment is built as (a local venv's environment too)."""
    return ImageNames(snapshot.repo.name, snapshot.commit).env


def task_image_name(task: Task) -> str:
    return ImageNames(task.repo, task.base_commit).task(task.instance_id)


def eval_script(env: Environment) -> str:
    """What SWE-bench's harness runs in the task image after applying a patch: the factory's
    test paths and pytest arguments, with ``-rA`` so that SWE-bench's pytest parser reads it."""
    from synth.envs.docker_session import PRISTINE

    source = PRISTINE if env.spec.source_root == "." else f"{PRISTINE}/{env.spec.source_root}"
    command = [
        "python",
        "-m",
        "pytest",
        "-rA",
        "-p",
        "no:cacheprovider",
        "--color=no",
        # As every factory run: a module that cannot be collected costs only its own tests.
        "--continue-on-collection-errors",
        *env.spec.pytest_args,
        *env.spec.test_paths,
    ]
    return "\n".join(
        [
            "#!/bin/bash",
            "set -uxo pipefail",
            f"cd {PRISTINE}",
            f"export PYTHONPATH={source}",
            f"echo '{START_MARK}'",
            " ".join(_quote(part) for part in command),
            f"echo '{END_MARK}'",
            "",
        ]
    )


def _quote(text: str) -> str:
    return (
        text
        if re.fullmatch(r"[A-Za-z0-9_./:=@+-]+", text)
        else "'" + text.replace("'", "'\\''") + "'"
    )


def swebench_instance(
    task: Task, env: Environment, commit: TaskCommit, image_name: str
) -> SWEbenchInstance:
    return SWEbenchInstance(
        instance_id=task.instance_id,
        repo=task.repo,
        base_commit=commit.bug_commit,
        patch=commit.fix_patch,
        test_patch="",
        problem_statement=task.problem_statement,
        hints_text="",
        created_at=timestamp(task.created_at),
        version=task.env_id,
        FAIL_TO_PASS=task.FAIL_TO_PASS,
        PASS_TO_PASS=task.PASS_TO_PASS,
        environment_setup_commit=task.base_commit,
        image=task_image_name(task),
        eval_script=eval_script(env),
        log_parser=LOG_PARSER,
        eval_type=EVAL_TYPE,
        image_name=image_name,
        env_id=task.env_id,
    )


def swesmith_instance(task: Task, image_name: str) -> SWEsmithInstance:
    return SWEsmithInstance(
        instance_id=task.instance_id,
        repo=task.repo,
        base_commit=task.base_commit,
        patch=task.patch,
        problem_statement=task.problem_statement,
        FAIL_TO_PASS=task.FAIL_TO_PASS,
        PASS_TO_PASS=task.PASS_TO_PASS,
        image_name=image_name,
        created_at=timestamp(task.created_at),
    )


if TYPE_CHECKING:
    from synth.envs.project_build import ProjectBuild


def environment_files(env: Environment, snapshot: Snapshot,
                      project: ProjectBuild | None = None) -> dict[str, str]:
    """The build context of an environment, less the wheels, the repository and the project's
    own build (``project_files``; see README)."""
    from synth.envs.backend import PROGRAMS, helper_sources, plugin_source, template_dir
    from synth.envs.base_image import base_image_tag, suite_for
    from synth.envs.docker_build import render_dockerfile
    from synth.envs.project_build import project_context
    from synth.envs.wheelhouse import render_lock

    # A local environment's "base" is the host's Python; its Docker twin uses the offline base.
    base = (env.base_image if env.backend is BackendKind.DOCKER
            else base_image_tag(suite_for(env.spec.python)))
    settings = project_context(project, env.lock, env.spec.python) if project else {}
    dockerfile = render_dockerfile(
        base_image=base, snapshot=snapshot, spec=env.spec, env_id=env.env_id, **settings
    )
    record = env.model_dump(mode="json")
    record["image_name"] = env_image_name(snapshot)
    record["source"] = snapshot.repo.model_dump(mode="json")
    record["commit"] = snapshot.commit
    return {
        "Dockerfile": dockerfile,
        "lock.txt": render_lock(env.lock),
        "environment.json": json.dumps(record, indent=2, sort_keys=True) + "\n",
        **{program: (template_dir() / program).read_text() for program in PROGRAMS},
        "synth_report.py": plugin_source().read_text(),
        **{name: source.read_text() for name, source in helper_sources().items()},
    }


def task_files(task: Task, snapshot: Snapshot, commit: TaskCommit) -> dict[str, str]:
    """A per-task image: the environment, with the bug committed as base_commit, alone in git."""
    from synth.envs.docker_session import PRISTINE, UID

    env_vars = " ".join(f"{k}={_quote(v)}" for k, v in IDENTITY.items())
    message = _quote(commit_message(task.instance_id))
    branch = _quote(branch_name(task.instance_id))
    dockerfile = f"""\
# Task {task.instance_id}: its environment with the bug committed as base_commit
# ({commit.bug_commit}), the only commit left in the repository's history.
FROM {env_image_name(snapshot)}
USER root
COPY bug.patch /tmp/synth-bug.patch
RUN git config --system --add safe.directory {PRISTINE} \\
 && cd {PRISTINE} \\
 && git update-index -q --refresh \\
 && git apply --index --whitespace=nowarn /tmp/synth-bug.patch \\
 && tree=$(git write-tree) \\
 && commit=$(env {env_vars} git commit-tree "$tree" -m {message}) \\
 && test "$commit" = {commit.bug_commit} \\
 && git update-ref refs/heads/{branch} "$commit" \\
 && git symbolic-ref HEAD refs/heads/{branch} \\
 && git reset --quiet --hard \\
 && git branch -D main \\
 && git reflog expire --expire=now --all \\
 && git gc --quiet --prune=now \\
 && chown -R {UID}:{UID} {PRISTINE} \\
 && rm /tmp/synth-bug.patch
WORKDIR {PRISTINE}
LABEL synth.instance_id="{task.instance_id}" synth.base_commit="{commit.bug_commit}"
"""
    return {"Dockerfile": dockerfile, "bug.patch": task.patch}


def select_tasks(store: Store, flt: TaskFilter) -> list[Task]:
    tasks = sorted((t for t in store.list_tasks() if flt.matches(t)), key=lambda t: t.instance_id)
    if flt.conditions:
        kept = {r["instance_id"] for r in select(store, flt.conditions)}
        tasks = [t for t in tasks if t.instance_id in kept]
    if not tasks:
        raise ExportError(
            f"no task in {store.path} matches the filter; see `synth tasks list --db {store.path}`"
        )
    return tasks


def export_corpus(
    store: Store,
    fmt: ExportFormat,
    out: Path,
    flt: TaskFilter | None = None,
    *,
    snapshot_root: Path,
) -> ExportSummary:
    """Write the tasks ``flt`` selects to ``out`` in ``fmt``; see the module docstring."""
    backfill(store)  # tasks stored before their accounting get it now
    tasks = select_tasks(store, flt or TaskFilter())
    out = out.expanduser().resolve()
    if fmt is ExportFormat.PARQUET:
        export_parquet(store, tasks, out)
        return ExportSummary(out, len(tasks))
    return _export_folder(store, fmt, tasks, out, snapshot_root)


def export_parquet(store: Store, tasks: Sequence[Task], out: Path) -> None:
    """COPY the tasks, joined with their candidate, environment and source, to one Parquet file."""
    if out.is_dir():
        raise ExportError(
            f"--out {out} is a folder; a Parquet export is one file, e.g. tasks.parquet"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    literal = str(tmp).replace("'", "''")
    try:
        store.query("CREATE OR REPLACE TEMP TABLE export_ids (instance_id VARCHAR PRIMARY KEY)")
        store.query(
            "INSERT INTO export_ids SELECT unnest(?::VARCHAR[])", [[t.instance_id for t in tasks]]
        )
        store.query(f"COPY ({_PARQUET_SELECT}) TO '{literal}' (FORMAT parquet, COMPRESSION zstd)")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        store.query("DROP TABLE IF EXISTS export_ids")


# The accounting columns (data.task_metrics) that the tasks table does not already give.
_METRIC_COLUMNS = ", ".join(
    f'm."{name}"' for name in COLUMNS
    if name not in ("instance_id", "repo", "env_id", "strategy", "operator", "created_at")
)
_PARQUET_SELECT = f"""
    SELECT t.instance_id, t.repo, t.base_commit, t.patch, t.problem_statement,
           t."FAIL_TO_PASS", t."PASS_TO_PASS", t.image_name, t.created_at, t.env_id,
           t.candidate_id, t.strategy, t.operator, t.seed, t.parents, t.harness_version,
           c.target_file, c.target_entities, c.fix_commit,
           e.backend, e.image_digest, e.base_image, e.spec, e."lock",
           s."commit" AS env_commit, r.source AS repo_source, r.kind AS repo_kind,
           {_METRIC_COLUMNS}, st.fail_to_pass AS fail_to_pass_rates, st.unsteady_p2p
    FROM tasks t
    JOIN export_ids x ON x.instance_id = t.instance_id
    LEFT JOIN ({METRICS_SQL}) m ON m.instance_id = t.instance_id
    LEFT JOIN task_stats st ON st.instance_id = t.instance_id
    LEFT JOIN candidates c ON c.candidate_id = t.candidate_id
    LEFT JOIN environments e ON e.env_id = t.env_id
    LEFT JOIN snapshots s ON s.snapshot_id = e.snapshot_id
    LEFT JOIN repos r ON r.repo_id = s.repo_id
    ORDER BY t.instance_id
"""


def _export_folder(
    store: Store, fmt: ExportFormat, tasks: list[Task], out: Path, snapshot_root: Path
) -> ExportSummary:
    from synth.data.task_repo import export_task_repos

    if out.exists() and not _replaceable(out):
        raise ExportError(
            f"--out {out} exists and is not an earlier synth export; choose a new path or remove it"
        )
    envs = {env_id: store.get_environment(env_id) for env_id in sorted({t.env_id for t in tasks})}
    snapshots: dict[str, Snapshot] = {}
    for env in envs.values():
        if env.snapshot_id not in snapshots:
            stored = store.get_snapshot(env.snapshot_id)
            snapshots[env.snapshot_id] = ensure_snapshot(stored, snapshot_root)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        groups = [
            (snap, [t for t in tasks if envs[t.env_id].snapshot_id == sid])
            for sid, snap in sorted(snapshots.items())
        ]
        commits = export_task_repos(groups, staging / "repos", staging)
        for env in envs.values():
            snapshot = snapshots[env.snapshot_id]
            from synth.envs.backend import project_build
            from synth.envs.project_build import project_files

            # The project's wheel and the files its build generates, as the image was built
            # with them (cached on the host; built again from the snapshot where missing).
            project = project_build(snapshot, env.spec, snapshot_root.parent)
            folder = staging / "environments" / env.env_id
            _write_files(folder, environment_files(env, snapshot, project))
            for rel, data in project_files(project, env.lock, env.spec.python).items():
                (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / rel).write_bytes(data)
        if fmt is ExportFormat.HARBOR:
            _write_harbor_tasks(store, staging / "tasks", tasks, envs, snapshots, commits)
        lines = []
        for task in tasks if fmt is not ExportFormat.HARBOR else ():
            env = envs[task.env_id]
            commit = commits[task.instance_id]
            snapshot = snapshots[env.snapshot_id]
            # A local environment's image_name is a venv path: name the Docker image its
            # exported Dockerfile builds instead, as a harness needs.
            image = env_image_name(snapshot)
            if fmt is ExportFormat.SWEBENCH:
                row: Record = swebench_instance(task, env, commit, image)
                _write_files(
                    staging / "tasks" / task.instance_id, task_files(task, snapshot, commit)
                )
            else:
                row = swesmith_instance(task, image)
            lines.append(row.model_dump_json())
        if fmt is not ExportFormat.HARBOR:
            (staging / INSTANCES).write_text("".join(line + "\n" for line in lines))
        manifest = {
            "format": fmt.value,
            "tasks": len(tasks),
            "store": str(store.path),
            # A Harbor export is byte for byte a function of the store: no clock in it.
            **({} if fmt is ExportFormat.HARBOR else {"exported_at": timestamp(utcnow())}),
            "harness_version": HARNESS_VERSION,
            "bundles": {bundle_name(s): s.commit for s in snapshots.values()},
            "layout": (HARBOR_LAYOUT if fmt is ExportFormat.HARBOR else LAYOUT).splitlines(),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportSummary(
        out,
        len(tasks),
        bundles=len(snapshots),
        environments=len(envs),
        warnings=_warnings(fmt, tasks),
    )


def _write_harbor_tasks(store: Store, root: Path, tasks: Sequence[Task],
                        envs: dict[str, Environment], snapshots: dict[str, Snapshot],
                        commits: dict[str, TaskCommit]) -> None:
    """One Harbor task folder per task (data.harbor), under ``root``."""
    from synth.data.harbor import EXECUTABLE, GRADER, originals_tar, task_folder
    from synth.envs.backend import (
        PROGRAMS,
        JobPaths,
        Limits,
        RunRequest,
        make_job,
        plugin_source,
        template_dir,
    )
    from synth.envs.docker_session import LOG, PRISTINE, UID, WORK
    from synth.verifiers.screening import is_test_path

    programs = {name: (template_dir() / name).read_text() for name in (*PROGRAMS, GRADER)}
    programs["synth_report.py"] = plugin_source().read_text()
    metrics = {r["instance_id"]: r for r in select(store, ids=[t.instance_id for t in tasks])}
    limits = Limits()  # what the factory verified with, unless its runs were given others
    originals: dict[str, bytes] = {}
    for task in tasks:
        env = envs[task.env_id]
        snapshot = snapshots[env.snapshot_id]
        if env.env_id not in originals:
            tree = git.Repo(snapshot.path).git.ls_files("-z").split("\0")
            tests = [f for f in tree if f and is_test_path(f, env.spec.test_paths)]
            originals[env.env_id] = originals_tar(Path(snapshot.path), tests)
        paths = JobPaths(pristine=PRISTINE, work=WORK, report="", log=LOG,
                         python="/opt/venv/bin/python", plugin_dir="/tests")
        job = make_job(env.spec, RunRequest(select=task.FAIL_TO_PASS + task.PASS_TO_PASS), paths,
                       "", limits)
        job = job.model_copy(update={"secret": None}).wire()  # the grader makes one each time
        folder = task_folder(
            task, env, snapshot, commits[task.instance_id],
            task_dockerfile=task_files(task, snapshot, commits[task.instance_id])["Dockerfile"],
            job=job, programs=programs, originals=originals[env.env_id],
            metrics=metrics.get(task.instance_id, {}), timeout_s=limits.timeout_s,
            memory_mb=limits.memory_mb, cpus=limits.cpus, uid=UID,
        )
        for rel, data in folder.items():
            path = root / task.instance_id / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(0o755 if rel in EXECUTABLE else 0o644)


def _warnings(fmt: ExportFormat, tasks: Sequence[Task]) -> tuple[str, ...]:
    if fmt is not ExportFormat.SWEBENCH:
        return ()
    spaced = [t for t in tasks if any(" " in x for x in t.FAIL_TO_PASS + t.PASS_TO_PASS)]
    if not spaced:
        return ()
    # parse_log_pytest reads "STATUS test_id" and splits on whitespace: an id with a space in
    # its parameters comes back cut short, so the harness never sees that test pass.
    return (
        f"{len(spaced)} instance(s) name tests whose ids contain spaces; SWE-bench's pytest log "
        "parser cuts such ids at the first space, so its harness grades them as not run",
    )


def _write_files(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def _replaceable(out: Path) -> bool:
    """An empty folder, or a folder an earlier export wrote (it has the manifest)."""
    return out.is_dir() and (not any(out.iterdir()) or (out / MANIFEST).is_file())


def _swap_into_place(staging: Path, out: Path) -> None:
    """Rename the finished export into place; an earlier one is removed only after that."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    try:
        staging.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
