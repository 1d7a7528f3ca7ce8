"""The factory's DuckDB store: the project's only DuckDB code.

One file holds every record the factory makes. The schema is versioned: ``MIGRATIONS`` is an
ordered list of SQL steps, step *n* bringing the file to version *n*; opening a file applies the
steps it lacks, each in its own transaction, and records them in ``schema_migrations``. A step,
once released, is never edited: change the schema by appending a step.

Writes go through :meth:`Store.write`, one explicit transaction per batch, keyed on the records'
content-hash ids, so writing the same records twice (a resumed run, a Ray retry) adds nothing.
Reads return records, never rows. DuckDB allows one read-write process per file: pipelines funnel
their results to a single writer.

Stored conventions: enums as their ``.value`` strings, datetimes as TIMESTAMPTZ (the session runs
in UTC, and values are read back as UTC-aware datetimes), tuples as real DuckDB lists, nested
records as STRUCTs, so ``SELECT len(FAIL_TO_PASS) FROM tasks`` or ``SELECT spec.python FROM
environments`` work directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import duckdb
from pydantic import BaseModel

from synth.records import (
    BackendKind,
    Candidate,
    CoverageMap,
    CoveredLines,
    Environment,
    Record,
    Rejection,
    RepoRef,
    SetupResult,
    Snapshot,
    SolutionVerdict,
    Task,
    TaskAudit,
    TaskStats,
    TestRun,
    utcnow,
)

Migration = tuple[str, ...]  # SQL statements applied together, in one transaction

_V1_TABLES: Migration = (
    """
    CREATE TABLE repos (
        repo_id VARCHAR PRIMARY KEY,
        source VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE snapshots (
        snapshot_id VARCHAR PRIMARY KEY,
        repo_id VARCHAR NOT NULL,
        "commit" VARCHAR NOT NULL,
        path VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE environments (
        env_id VARCHAR PRIMARY KEY,
        snapshot_id VARCHAR NOT NULL,
        backend VARCHAR NOT NULL,
        image_name VARCHAR NOT NULL,
        image_digest VARCHAR NOT NULL,
        base_image VARCHAR NOT NULL,
        spec STRUCT(
            python VARCHAR,
            requirements VARCHAR[],
            source_root VARCHAR,
            test_paths VARCHAR[],
            pytest_args VARCHAR[],
            evidence VARCHAR[]
        ) NOT NULL,
        "lock" STRUCT(name VARCHAR, version VARCHAR, filename VARCHAR, sha256 VARCHAR)[] NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE candidates (
        candidate_id VARCHAR PRIMARY KEY,
        snapshot_id VARCHAR NOT NULL,
        strategy VARCHAR NOT NULL,
        operator VARCHAR NOT NULL,
        seed BIGINT NOT NULL,
        target_file VARCHAR NOT NULL,
        target_entity VARCHAR NOT NULL,
        patch VARCHAR NOT NULL,
        rejection VARCHAR,
        parents VARCHAR[] NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE test_runs (
        run_id VARCHAR PRIMARY KEY,
        env_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        patch_hash VARCHAR NOT NULL,
        attempt INTEGER NOT NULL,
        verdict VARCHAR NOT NULL,
        exit_code INTEGER NOT NULL,
        duration_s DOUBLE NOT NULL,
        reason VARCHAR NOT NULL,
        "order" VARCHAR NOT NULL,
        selected INTEGER,
        results STRUCT(test_id VARCHAR, status VARCHAR, duration_s DOUBLE, message VARCHAR)[]
            NOT NULL,
        log_tail VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE tasks (
        instance_id VARCHAR PRIMARY KEY,
        repo VARCHAR NOT NULL,
        base_commit VARCHAR NOT NULL,
        patch VARCHAR NOT NULL,
        problem_statement VARCHAR NOT NULL,
        "FAIL_TO_PASS" VARCHAR[] NOT NULL,
        "PASS_TO_PASS" VARCHAR[] NOT NULL,
        image_name VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        env_id VARCHAR NOT NULL,
        candidate_id VARCHAR NOT NULL,
        strategy VARCHAR NOT NULL,
        operator VARCHAR NOT NULL,
        seed BIGINT NOT NULL,
        parents VARCHAR[] NOT NULL,
        harness_version VARCHAR NOT NULL
    )
    """,
)
_V1_TABLES = _V1_TABLES + (
    # One row per test per run, so variance of status and duration can be queried directly.
    """
    CREATE VIEW test_results AS
    SELECT run_id, env_id, kind, patch_hash, attempt, "order", verdict,
           unnest(results, recursive := true)
    FROM test_runs
    """,
    # Per-test coverage of the clean repository, one row per (test, file): which lines ran.
    """
    CREATE TABLE coverage (
        env_id VARCHAR NOT NULL,
        test_id VARCHAR NOT NULL,
        file VARCHAR NOT NULL,
        lines INTEGER[] NOT NULL,
        PRIMARY KEY (env_id, test_id, file)
    )
    """,
)
# No foreign keys and no secondary indexes: DuckDB's foreign keys forbid the upserts used here,
# and its indexes slow every insert while scans of these tables are already fast.

# The trainer's runs (trainer/, through data/training_runs.py): one row per run, one per step.
_TRAINING_RUNS: Migration = (
    """
    CREATE TABLE training_runs (
        run_id VARCHAR PRIMARY KEY,
        config_name VARCHAR NOT NULL,
        backend VARCHAR NOT NULL,
        device VARCHAR NOT NULL,
        seed BIGINT NOT NULL,
        total_steps INTEGER NOT NULL,
        num_params BIGINT NOT NULL,
        num_tasks INTEGER NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
    """
    CREATE TABLE training_steps (
        run_id VARCHAR NOT NULL,
        step INTEGER NOT NULL,
        loss DOUBLE NOT NULL,
        aux_loss DOUBLE NOT NULL,
        z_loss DOUBLE NOT NULL,
        lr DOUBLE NOT NULL,
        grad_norm DOUBLE NOT NULL,
        load_max_over_mean DOUBLE NOT NULL,
        tokens BIGINT NOT NULL,
        tokens_per_s DOUBLE NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (run_id, step)
    )
    """,
)

# Reproducibility audits (pipelines/audit.py, `synth audit`): one row per task per audit run.
_AUDITS: Migration = (
    """
    CREATE TABLE audits (
        audit_id VARCHAR PRIMARY KEY,
        audit_run VARCHAR NOT NULL,
        instance_id VARCHAR NOT NULL,
        env_id VARCHAR NOT NULL,
        repo VARCHAR NOT NULL,
        verdict VARCHAR NOT NULL,
        reasons VARCHAR[] NOT NULL,
        details VARCHAR[] NOT NULL,
        runs INTEGER NOT NULL,
        rebuilt BOOLEAN NOT NULL,
        flipped VARCHAR[] NOT NULL,
        flaky VARCHAR[] NOT NULL,
        duration_s DOUBLE NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
)

# Scored candidate fixes (verifiers/solution.py, `synth verify`): one row per task and patch.
_SOLUTIONS: Migration = (
    """
    CREATE TABLE solutions (
        solution_id VARCHAR PRIMARY KEY,
        instance_id VARCHAR NOT NULL,
        patch_hash VARCHAR NOT NULL,
        patch VARCHAR NOT NULL,
        outcome VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        fail_to_pass_passed INTEGER NOT NULL,
        fail_to_pass_total INTEGER NOT NULL,
        pass_to_pass_passed INTEGER NOT NULL,
        pass_to_pass_total INTEGER NOT NULL,
        tests STRUCT(test_id VARCHAR, expected VARCHAR, status VARCHAR, passed BOOLEAN)[] NOT NULL,
        flags VARCHAR[] NOT NULL,
        dropped VARCHAR[] NOT NULL,
        runs INTEGER NOT NULL,
        duration_s DOUBLE NOT NULL,
        harness_version VARCHAR NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
)

# The setup stage (pipelines/factory.py): EnvSpec's per-run variables and the adjustments made to
# what a repository declares, and one verdict per source@snapshot@environment. A STRUCT drops keys
# it does not name without a word, so a field added to EnvSpec needs a step like this one.
_SETUPS: Migration = (
    """
    ALTER TABLE environments ALTER spec TYPE STRUCT(
        python VARCHAR,
        requirements VARCHAR[],
        source_root VARCHAR,
        test_paths VARCHAR[],
        pytest_args VARCHAR[],
        evidence VARCHAR[],
        env VARCHAR[],
        adjustments VARCHAR[]
    ) USING struct_insert(spec, env := []::VARCHAR[], adjustments := []::VARCHAR[])
    """,
    """
    CREATE TABLE setups (
        setup_id VARCHAR PRIMARY KEY,
        source VARCHAR NOT NULL,
        repo VARCHAR NOT NULL,
        verdict VARCHAR NOT NULL,
        message VARCHAR NOT NULL,
        snapshot_id VARCHAR NOT NULL,
        env_id VARCHAR NOT NULL,
        collected INTEGER NOT NULL,
        passing INTEGER NOT NULL,
        excluded VARCHAR[] NOT NULL,
        adjustments VARCHAR[] NOT NULL,
        duration_s DOUBLE NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
)

# Reward integrity (verifiers/solution.py): a TAMPERED verdict's findings, and the canary behind
# a RESOLVED one.
_TAMPER: Migration = (
    "ALTER TABLE solutions ADD COLUMN evidence VARCHAR[] DEFAULT []::VARCHAR[]",
    "ALTER TABLE solutions ADD COLUMN canary VARCHAR DEFAULT ''",
)

# Per-task accounting (verifiers/accounting.py): each run's CPU, each environment's build time,
# and one row per task with its own cost, the runs behind its verdict and difficulty signals.
_ACCOUNTING: Migration = (
    "ALTER TABLE test_runs ADD COLUMN cpu_s DOUBLE",
    "ALTER TABLE environments ADD COLUMN build_s DOUBLE DEFAULT 0.0",
    """
    CREATE TABLE task_stats (
        instance_id VARCHAR PRIMARY KEY,
        env_id VARCHAR NOT NULL,
        own_cpu_s DOUBLE NOT NULL,
        runs INTEGER NOT NULL,
        gold_runs INTEGER NOT NULL,
        bug_runs INTEGER NOT NULL,
        steady BOOLEAN NOT NULL,
        fail_to_pass STRUCT(test_id VARCHAR, gold_passed INTEGER, gold_runs INTEGER,
                            bug_passed INTEGER, bug_runs INTEGER)[] NOT NULL,
        unsteady_p2p STRUCT(test_id VARCHAR, gold_passed INTEGER, gold_runs INTEGER,
                            bug_passed INTEGER, bug_runs INTEGER)[] NOT NULL,
        lines_added INTEGER NOT NULL,
        lines_removed INTEGER NOT NULL,
        files_changed INTEGER NOT NULL,
        covering_tests INTEGER,
        test_distance INTEGER,
        f2p_files_run INTEGER
    )
    """,
)

# Typed targets: ``target_entity`` held a qualified name, a fix commit's short sha or names joined
# with "+"; a candidate now lists the names it changes and, when mirrored, the commit apart. Old
# rows are split by their strategy (a module-level site's empty name becomes no name).
_TARGETS: Migration = (
    "ALTER TABLE candidates ADD COLUMN target_entities VARCHAR[] DEFAULT []::VARCHAR[]",
    "ALTER TABLE candidates ADD COLUMN fix_commit VARCHAR",
    """
    UPDATE candidates SET
        fix_commit = CASE WHEN strategy = 'mirror' THEN target_entity END,
        target_entities = CASE WHEN strategy = 'mirror' THEN []::VARCHAR[]
            ELSE list_filter(string_split(target_entity, '+'), lambda name: name <> '') END
    """,
    "ALTER TABLE candidates DROP COLUMN target_entity",
    "ALTER TABLE candidates ALTER target_entities SET NOT NULL",
)

MIGRATIONS: tuple[Migration, ...] = (_V1_TABLES, _TRAINING_RUNS, _AUDITS, _SOLUTIONS, _SETUPS,
                                     _TAMPER, _ACCOUNTING, _TARGETS)

# Each table and its primary key (a record's content-hash id).
TABLES = {
    "repos": "repo_id",
    "snapshots": "snapshot_id",
    "environments": "env_id",
    "candidates": "candidate_id",
    "test_runs": "run_id",
    "tasks": "instance_id",
    "audits": "audit_id",
    "solutions": "solution_id",
    "setups": "setup_id",
    "task_stats": "instance_id",
}
_CHUNK_ROWS = 256  # rows per INSERT statement

# Rejections reached without the bug making any test fail; every other one means a test broke.
_UNBROKEN = tuple(
    r.value
    for r in (
        Rejection.NO_TEST_FAILED,
        Rejection.PATCH_FAILED,
        Rejection.UNCOVERED,
        Rejection.TOUCHES_TESTS,
        Rejection.INFRA,
    )
)

# A candidate is first stored when proposed and again with its verdict: only that update is let
# through (a stored rejection is never cleared or replaced by a rerun).
_ON_CONFLICT = {
    "candidates": "(candidate_id) DO UPDATE SET rejection = excluded.rejection"
    " WHERE candidates.rejection IS NULL",
}
# Rows whose newest copy wins: a rerun's setup verdict replaces the one stored for the same
# source@snapshot@environment (the build was fixed, or broke since).
_REPLACED = ("setups",)


class StoreError(Exception):
    """Something the user can act on: a bad --db path, a locked or too-new file, a missing id."""


class FunnelRow(Record):
    """How far the candidates of one repo (or one operator) got."""

    key: str
    generated: int  # candidates stored
    broke: int  # candidates that made at least one test fail
    validated: int  # tasks stored
    rejected_by_reason: dict[str, int]


class Store:
    """An open DuckDB file. Use ``with Store.open(path) as store: ...``."""

    def __init__(self, path: Path, conn: duckdb.DuckDBPyConnection) -> None:
        # Prefer Store.open, which also creates and migrates the file.
        self.path = path
        self._conn: duckdb.DuckDBPyConnection | None = conn

    @classmethod
    def open(cls, path: Path | str, *, migrations: Sequence[Migration] = MIGRATIONS) -> Store:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date."""
        path = Path(path).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.stat().st_size == 0:
            path.unlink()  # an empty placeholder (`touch`, mktemp) holds nothing to lose
        try:
            conn = duckdb.connect(str(path))
        except duckdb.Error as e:
            raise StoreError(_open_error(path, e)) from e
        store = cls(path, conn)
        try:
            conn.execute("SET TimeZone = 'UTC'")
            store._migrate(migrations)
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def _db(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise StoreError(f"the store {self.path} is closed; open it again with Store.open")
        return self._conn

    @property
    def schema_version(self) -> int:
        (version,) = self._db.execute(
            "SELECT coalesce(max(version), 0) FROM schema_migrations"
        ).fetchone() or (0,)
        return int(version)

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        db = self._db
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        current = self.schema_version
        if current > len(migrations):
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this code knows "
                f"({len(migrations)}); upgrade synth-factory, or pass --db with another path"
            )
        for version, statements in enumerate(migrations[current:], start=current + 1):
            db.execute("BEGIN TRANSACTION")
            try:
                for statement in statements:
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?)", [version, utcnow()])
                db.execute("COMMIT")
            except BaseException as e:
                _rollback(db)
                if isinstance(e, duckdb.Error):
                    raise StoreError(
                        f"migrating {self.path} to schema version {version} failed, so it stays"
                        f" at version {version - 1}: {e}"
                    ) from e
                raise

    @contextmanager
    def _batch(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One explicit transaction: all of the block's writes, or (on any error) none."""
        db = self._db
        db.execute("BEGIN TRANSACTION")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException as e:
            _rollback(db)
            if isinstance(e, duckdb.Error):
                raise StoreError(f"nothing was written to {self.path}: {e}") from e
            raise
        db.execute("CHECKPOINT")

    def write(
        self,
        repo: RepoRef | None = None,
        snapshot: Snapshot | None = None,
        environments: Iterable[Environment] = (),
        candidates: Iterable[Candidate] = (),
        test_runs: Iterable[TestRun] = (),
        tasks: Iterable[Task] = (),
        setups: Iterable[SetupResult] = (),
        task_stats: Iterable[TaskStats] = (),
    ) -> None:
        """Store a batch in one transaction: all of it, or (on any error) none of it.

        Rows whose id is already stored are left as they are, except that a candidate stored
        without a rejection takes the rejection it arrives with, and a setup replaces the one
        stored for the same source@snapshot@environment.
        """
        now = utcnow()
        repos = {r.repo_id: r for r in (repo, snapshot.repo if snapshot else None) if r}
        # Rows are built before the transaction starts; DuckDB rejects a malformed value inside
        # it, and the rollback then undoes the rows already inserted.
        batches: list[tuple[str, list[dict[str, Any]]]] = [
            ("repos", [{"repo_id": i, **_plain(r), "created_at": now} for i, r in repos.items()]),
            ("snapshots", [_snapshot_row(snapshot)] if snapshot else []),
            ("environments", [_plain(e) for e in environments]),
            ("candidates", [{**_plain(c), "created_at": now} for c in candidates]),
            ("test_runs", [_plain(r) for r in test_runs]),
            ("tasks", [_plain(t) for t in tasks]),
            ("setups", [{"setup_id": s.setup_id, **_plain(s)} for s in setups]),
            ("task_stats", [_plain(t) for t in task_stats]),
        ]
        with self._batch() as db:
            for table, rows in batches:
                _insert(db, table, rows)

    def list_repos(self) -> list[RepoRef]:
        rows = self._rows(f"SELECT {_columns(RepoRef)} FROM repos ORDER BY name, repo_id")
        return [RepoRef.model_validate(r) for r in rows]

    def get_snapshot(self, snapshot_id: str) -> Snapshot:
        rows = self._rows(
            'SELECT s."commit", s.path, r.source, r.kind, r.name FROM snapshots s'
            " JOIN repos r USING (repo_id) WHERE s.snapshot_id = ?",
            [snapshot_id],
        )
        if not rows:
            raise StoreError(f"no snapshot {snapshot_id} in {self.path}")
        row = rows[0]
        repo = RepoRef(source=row["source"], kind=row["kind"], name=row["name"])
        return Snapshot(repo=repo, commit=row["commit"], path=row["path"])

    def get_environment(self, env_id: str) -> Environment:
        envs = self._environments("env_id = ?", [env_id])
        if not envs:
            raise StoreError(f"no environment {env_id} in {self.path}")
        return envs[0]

    def find_environment(self, snapshot_id: str, backend: BackendKind | str) -> Environment | None:
        """The newest environment built for ``snapshot_id`` with ``backend`` (a BackendKind)."""
        envs = self._environments("snapshot_id = ? AND backend = ?", [snapshot_id, _plain(backend)])
        return envs[0] if envs else None

    def list_candidates(self, snapshot_id: str | None = None) -> list[Candidate]:
        where, params = ("WHERE snapshot_id = ?", [snapshot_id]) if snapshot_id else ("", [])
        rows = self._rows(
            f"SELECT {_columns(Candidate)} FROM candidates {where}"
            " ORDER BY created_at, candidate_id",
            params,
        )
        return [Candidate.model_validate(r) for r in rows]

    def list_test_runs(self, env_id: str) -> list[TestRun]:
        rows = self._rows(
            f"SELECT {_columns(TestRun)} FROM test_runs WHERE env_id = ?"
            " ORDER BY created_at, run_id",
            [env_id],
        )
        return [TestRun.model_validate(_utc_row(r)) for r in rows]

    def list_tasks(self, repo: str | None = None, limit: int | None = None, *,
                   env_id: str | None = None) -> list[Task]:
        """Tasks, newest first (ties broken by id), optionally of one repo or environment."""
        sql = f"SELECT {_columns(Task)} FROM tasks"
        params: list[Any] = []
        wheres = [(col, value) for col, value in (("repo", repo), ("env_id", env_id))
                  if value is not None]
        if wheres:
            sql += " WHERE " + " AND ".join(f"{col} = ?" for col, _ in wheres)
            params += [value for _, value in wheres]
        sql += " ORDER BY created_at DESC, instance_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [Task.model_validate(_utc_row(r)) for r in self._rows(sql, params)]

    def get_task(self, id_or_prefix: str) -> Task:
        """The task with this instance id, or the only one whose id starts with it."""
        if not id_or_prefix:
            raise StoreError("an empty task id matches every task; give an instance id")
        select = f"SELECT {_columns(Task)} FROM tasks"
        rows = self._rows(f"{select} WHERE instance_id = ?", [id_or_prefix])
        if not rows:
            rows = self._rows(
                f"{select} WHERE starts_with(instance_id, ?) ORDER BY instance_id LIMIT 6",
                [id_or_prefix],
            )
        if not rows:
            raise StoreError(f"no task {id_or_prefix!r} in {self.path}; see `synth tasks list`")
        if len(rows) > 1:
            shown = ", ".join(r["instance_id"] for r in rows[:5])
            more = " and more" if len(rows) > 5 else ""
            raise StoreError(
                f"task id {id_or_prefix!r} is ambiguous: it starts {shown}{more};"
                " give more characters"
            )
        return Task.model_validate(_utc_row(rows[0]))

    def get_task_stats(self, instance_id: str) -> TaskStats | None:
        rows = self._rows(f"SELECT {_columns(TaskStats)} FROM task_stats WHERE instance_id = ?",
                          [instance_id])
        return TaskStats.model_validate(rows[0]) if rows else None

    def tasks_without_stats(self) -> list[Task]:
        """Tasks stored before their accounting was (schema 7 and older)."""
        rows = self._rows(
            f"SELECT {_columns(Task)} FROM tasks WHERE instance_id NOT IN"
            " (SELECT instance_id FROM task_stats) ORDER BY instance_id"
        )
        return [Task.model_validate(_utc_row(r)) for r in rows]

    def list_runs_of(self, env_id: str, patch_hash: str) -> list[TestRun]:
        """The stored runs of one patch in one environment (a task's own runs)."""
        rows = self._rows(
            f"SELECT {_columns(TestRun)} FROM test_runs WHERE env_id = ? AND patch_hash = ?"
            " ORDER BY created_at, run_id",
            [env_id, patch_hash],
        )
        return [TestRun.model_validate(_utc_row(r)) for r in rows]

    def write_coverage(self, coverage: CoverageMap) -> None:
        """Replace the coverage map of one environment, in one transaction."""
        rows = [[coverage.env_id, e.test_id, e.file, list(e.lines)] for e in coverage.entries]
        with self._batch() as db:
            db.execute("DELETE FROM coverage WHERE env_id = ?", [coverage.env_id])
            for start in range(0, len(rows), _CHUNK_ROWS):
                chunk = rows[start : start + _CHUNK_ROWS]
                db.execute(
                    "INSERT INTO coverage VALUES " + ", ".join(["(?, ?, ?, ?)"] * len(chunk)),
                    [value for row in chunk for value in row],
                )

    def get_coverage(self, env_id: str) -> CoverageMap | None:
        """The stored coverage map of ``env_id``, or None if it was never measured."""
        rows = self._db.execute(
            "SELECT test_id, file, lines FROM coverage WHERE env_id = ? ORDER BY test_id, file",
            [env_id],
        ).fetchall()
        if not rows:
            return None
        entries = tuple(CoveredLines(test_id=t, file=f, lines=tuple(ls)) for t, f, ls in rows)
        return CoverageMap(env_id=env_id, entries=entries)

    def write_audits(self, audits: Iterable[TaskAudit]) -> None:
        """Store one audit batch in one transaction (an audit id already stored is kept)."""
        rows = [_plain(a) for a in audits]
        with self._batch() as db:
            _insert(db, "audits", rows)

    def list_audits(self, audit_run: str | None = None) -> list[TaskAudit]:
        """Audit results, oldest first (of one audit run, or of all)."""
        where, params = ("WHERE audit_run = ?", [audit_run]) if audit_run else ("", [])
        rows = self._rows(
            f"SELECT {_columns(TaskAudit)} FROM audits {where} ORDER BY created_at, instance_id",
            params,
        )
        return [TaskAudit.model_validate(_utc_row(r)) for r in rows]

    def write_solutions(self, scored: Iterable[tuple[SolutionVerdict, str]]) -> None:
        """Store (verdict, patch) pairs in one transaction; a solution id already stored is kept."""
        rows = [{**_plain(v), "patch": patch} for v, patch in scored]
        with self._batch() as db:
            _insert(db, "solutions", rows)

    def list_solutions(self, instance_id: str | None = None) -> list[SolutionVerdict]:
        """Scored solutions, oldest first (of one task, or of all)."""
        where, params = ("WHERE instance_id = ?", [instance_id]) if instance_id else ("", [])
        rows = self._rows(
            f"SELECT {_columns(SolutionVerdict)} FROM solutions {where}"
            " ORDER BY created_at, solution_id",
            params,
        )
        return [SolutionVerdict.model_validate(_utc_row(r)) for r in rows]

    def solution_outcomes(self) -> dict[str, int]:
        """Scored solutions per outcome (resolved, partial, unresolved, tampered, error)."""
        rows = self._db.execute(
            "SELECT outcome, count(*) FROM solutions GROUP BY outcome ORDER BY outcome").fetchall()
        return {str(outcome): int(n) for outcome, n in rows}

    def list_setups(self, repo: str | None = None) -> list[SetupResult]:
        """Setup verdicts, oldest first (of one repository's short name, or of all)."""
        where, params = ("WHERE repo = ?", [repo]) if repo is not None else ("", [])
        rows = self._rows(
            f"SELECT {_columns(SetupResult)} FROM setups {where} ORDER BY created_at, setup_id",
            params,
        )
        return [SetupResult.model_validate(_utc_row(r)) for r in rows]

    def get_setup(self, env_id: str) -> SetupResult | None:
        """The newest setup verdict reached in environment ``env_id``, or None."""
        rows = self._rows(
            f"SELECT {_columns(SetupResult)} FROM setups WHERE env_id = ?"
            " ORDER BY created_at DESC, setup_id LIMIT 1",
            [env_id],
        )
        return SetupResult.model_validate(_utc_row(rows[0])) if rows else None

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)
        return {name: int(n) for name, n in self._db.execute(sql).fetchall()}

    def funnel(self, by: Literal["repo", "operator", "strategy"]) -> list[FunnelRow]:
        """Candidates generated, broken, validated and rejected (by reason), per repo, operator
        or strategy (procedural / mirror / combine).

        A repo is its RepoRef.name, reached from a candidate through its snapshot; a task whose
        candidate is not stored falls back to its own ``repo`` field.
        """
        if by == "repo":
            cand_key = "coalesce(r.name, '(unknown)')"
            task_key = "coalesce(r.name, t.repo)"
        elif by == "operator":
            cand_key, task_key = "c.operator", "t.operator"
        elif by == "strategy":
            cand_key, task_key = "c.strategy", "t.strategy"
        else:
            raise StoreError(
                f"cannot group the funnel by {by!r}; use 'repo', 'operator' or 'strategy'"
            )
        joins = "LEFT JOIN snapshots s USING (snapshot_id) LEFT JOIN repos r USING (repo_id)"
        cand_rows = self._db.execute(
            f"SELECT {cand_key}, c.rejection, count(*) FROM candidates c {joins} GROUP BY ALL"
        ).fetchall()
        task_rows = self._db.execute(
            f"SELECT {task_key}, count(*) FROM tasks t"
            f" LEFT JOIN candidates c USING (candidate_id) {joins} GROUP BY ALL"
        ).fetchall()
        generated: dict[str, int] = {}
        rejected: dict[str, dict[str, int]] = {}
        for key, rejection, n in cand_rows:
            generated[key] = generated.get(key, 0) + n
            if rejection is not None:
                rejected.setdefault(key, {})[rejection] = n
        validated = {key: n for key, n in task_rows}
        out = []
        for key in sorted(generated.keys() | validated.keys()):
            reasons = dict(sorted(rejected.get(key, {}).items()))
            broke = validated.get(key, 0) + sum(
                n for reason, n in reasons.items() if reason not in _UNBROKEN
            )
            out.append(
                FunnelRow(
                    key=key,
                    generated=generated.get(key, 0),
                    broke=broke,
                    validated=validated.get(key, 0),
                    rejected_by_reason=reasons,
                )
            )
        return out

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run ad-hoc SQL (``synth sql``, tests) and return its rows as tuples."""
        try:
            return self._db.execute(sql, list(params)).fetchall()
        except duckdb.Error as e:
            raise StoreError(f"query failed on {self.path}: {e}") from e

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._db.execute(sql, list(params))
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def _environments(self, where: str, params: Sequence[Any]) -> list[Environment]:
        rows = self._rows(
            f"SELECT {_columns(Environment)} FROM environments WHERE {where}"
            " ORDER BY created_at DESC, env_id",
            params,
        )
        return [Environment.model_validate(_utc_row(r)) for r in rows]


def _open_error(path: Path, e: duckdb.Error) -> str:
    text = str(e)
    if "not a valid DuckDB database" in text:
        return f"{path} is not a DuckDB database; pass --db with another path"
    if "lock" in text.lower():
        return f"{path} is open in another process; close it or pass --db with another path"
    return f"cannot open {path} as a DuckDB database ({text}); pass --db with another path"


def _insert(db: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows (dicts of one shape) with multi-row VALUES: executemany costs ~2 ms a row."""
    key = TABLES[table]
    replaced = table in _REPLACED
    unique: dict[str, dict[str, Any]] = {}
    for row in rows:
        # DuckDB refuses to touch one row twice in a statement: keep the first row per id
        # (the last where the newest copy wins), unless a later copy of a candidate brings the
        # verdict the first one lacks.
        first = unique.get(row[key])
        if (
            first is None
            or replaced
            or (first.get("rejection") is None and row.get("rejection") is not None)
        ):
            unique[row[key]] = row
    if not unique:
        return
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    one_row = "(" + ", ".join("?" * len(columns)) + ")"
    if replaced:
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != key)
        conflict = f"({key}) DO UPDATE SET {updates}"
    else:
        conflict = _ON_CONFLICT.get(table, "DO NOTHING")
    values = list(unique.values())
    for start in range(0, len(values), _CHUNK_ROWS):
        chunk = values[start : start + _CHUNK_ROWS]
        db.execute(
            f"INSERT INTO {table} ({names}) VALUES {', '.join([one_row] * len(chunk))}"
            f" ON CONFLICT {conflict}",
            [value for row in chunk for value in row.values()],
        )


def _columns(model: type[Record]) -> str:
    """The select list that reads back ``model``: its fields, which are its table's columns."""
    return ", ".join(f'"{name}"' for name in model.model_fields)


def _plain(value: Any) -> Any:
    """A record's stored form: enums as values, tuples as lists, nested records as structs."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _snapshot_row(s: Snapshot) -> dict[str, Any]:
    return {
        "snapshot_id": s.snapshot_id,
        "repo_id": s.repo.repo_id,
        "commit": s.commit,
        "path": s.path,
    }


def _utc_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "created_at": row["created_at"].astimezone(UTC)}


def _rollback(db: duckdb.DuckDBPyConnection) -> None:
    try:
        db.execute("ROLLBACK")
    except duckdb.TransactionException:
        pass  # a failed COMMIT has already ended the transaction
