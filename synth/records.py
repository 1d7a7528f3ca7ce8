"""The factory's records, defined once and imported everywhere else.

Every record is a frozen pydantic model with ``extra="forbid"``. Ids are content hashes of what
makes the record what it is (repo, commit, patch, harness version), so rerunning the same work
produces the same id and a resumed run never duplicates a row.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Bumped whenever the way a verdict is reached changes; part of every task id, so tasks made by
# a different harness never collide with (or silently overwrite) older ones.
HARNESS_VERSION = "0.1.0"


def content_hash(*parts: Any, length: int = 16) -> str:
    """Stable hex digest of JSON-serialisable parts (order matters)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceKind(StrEnum):
    GIT = "git"
    LOCAL = "local"
    PYPI = "pypi"


class RepoRef(Record):
    """Where a repository came from, as the user named it."""

    source: str
    kind: SourceKind
    name: str  # a short slug used in ids and image names, e.g. "pathspec"

    @property
    def repo_id(self) -> str:
        return content_hash("repo", self.kind.value, self.source)


class Snapshot(Record):
    """A repository pinned at one commit in a scrubbed working copy."""

    repo: RepoRef
    commit: str
    path: str  # absolute path of the scrubbed working copy

    @property
    def snapshot_id(self) -> str:
        return content_hash("snapshot", self.repo.repo_id, self.commit)


class Requirement(Record):
    """One pinned wheel of an environment's lock."""

    name: str
    version: str
    filename: str
    sha256: str


class EnvSpec(Record):
    """What an environment needs: derived from the repository's own files, nothing guessed later."""

    python: str  # "3.11"
    requirements: tuple[str, ...]  # PEP 508 strings to resolve on the host
    source_root: str  # relative dir put on PYTHONPATH ("." or "src")
    test_paths: tuple[str, ...]  # what pytest collects, relative to the repo root
    pytest_args: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # which files the spec was read from, for the user
    # KEY=VALUE variables every test run gets (from a per-repository override).
    env: tuple[str, ...] = ()
    # What inference changed from what the repository declares, each with its reason
    # ("dropped mypy: a type checker, not needed to run tests"), for the user.
    adjustments: tuple[str, ...] = ()

    @property
    def spec_id(self) -> str:
        return content_hash("envspec", self.model_dump(exclude={"evidence", "adjustments"}))


class BackendKind(StrEnum):
    DOCKER = "docker"
    LOCAL = "local"


class Environment(Record):
    """A built environment for one repo@commit, shared by all of its tasks."""

    env_id: str
    snapshot_id: str
    backend: BackendKind
    image_name: str  # docker image tag, or the local venv path
    image_digest: str  # docker image id, or a hash of the local venv's lock
    base_image: str
    lock: tuple[Requirement, ...]
    spec: EnvSpec
    created_at: datetime = Field(default_factory=utcnow)
    # Wall seconds the build took where it was made (image and wheelhouse); 0.0 when the image
    # was already there. Every task of the environment carries a share of it.
    build_s: float = 0.0


class TestStatus(StrEnum):
    __test__ = False  # not a pytest test class, despite the name

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"
    XFAILED = "xfailed"
    XPASSED = "xpassed"
    MISSING = "missing"  # expected but absent from the report: counts as failed


class TestResult(Record):
    __test__ = False  # not a pytest test class, despite the name

    test_id: str  # pytest node id, e.g. "tests/test_x.py::test_y"
    status: TestStatus
    duration_s: float = 0.0
    message: str = ""  # one-line failure message (the exception repr), never a traceback


class RunKind(StrEnum):
    BASELINE = "baseline"  # the clean repository (the gold state of every task)
    COVERAGE = "coverage"  # the clean repository, with per-test coverage
    SCREEN = "screen"  # a bug, only the tests covering the lines it touches
    BUG = "bug"  # a bug, the whole suite
    GOLD = "gold"
    SOLUTION = "solution"  # a candidate fix of a task, only its FAIL_TO_PASS + PASS_TO_PASS


class Verdict(StrEnum):
    """How one run of a suite ended, as the harness (never the suite itself) judges it."""

    PASS = "pass"  # an authentic report; every executed test passed or was skipped
    FAIL = "fail"  # an authentic report; at least one test failed
    ERROR = "error"  # the patch did not apply, or pytest could not run (usage/collection error)
    TIMEOUT = "timeout"
    OOM = "oom"
    INFRA = "infra"  # no report, a forged one, or one that disagrees with the exit code / counts
    # The witness (a pipe the code under test cannot take back) saw it reach into pytest or the
    # harness, or the report disagrees with what the witness saw as the tests ran.
    TAMPERED = "tampered"


class Order(str):
    """The order a run takes its tests in, as text on the wire and in the store: ``default``
    (collection order), ``reverse``, ``random:SEED`` (shuffled, reproducibly) or ``listed`` (the
    selection's own order: a screen's cheapest likely killer first). A string, so it compares,
    stores and ships as one; made only from valid text, so a typo fails where it is written.
    """

    __slots__ = ()
    KINDS = ("default", "reverse", "random", "listed")

    def __new__(cls, text: str = "default") -> Order:
        kind, _, seed = str(text).partition(":")
        if kind not in cls.KINDS or (kind == "random") != bool(seed) or (
                seed and not seed.lstrip("-").isdigit()):
            raise ValueError(f"unknown test order {text!r}: expected one of default, reverse, "
                             "random:SEED (an integer) or listed")
        return super().__new__(cls, text)

    @classmethod
    def random(cls, seed: int) -> Order:
        return cls(f"random:{seed}")

    @property
    def kind(self) -> str:
        return self.partition(":")[0]

    @property
    def seed(self) -> int | None:
        return int(self.partition(":")[2]) if self.kind == "random" else None

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(),
            serialization=core_schema.plain_serializer_function_ser_schema(str))


DEFAULT_ORDER, REVERSE_ORDER, LISTED_ORDER = Order("default"), Order("reverse"), Order("listed")


class TestRun(Record):
    __test__ = False  # not a pytest test class, despite the name

    run_id: str
    env_id: str
    kind: RunKind
    patch_hash: str  # content hash of the applied patch ("" for none)
    attempt: int
    verdict: Verdict
    exit_code: int
    duration_s: float
    results: tuple[TestResult, ...]
    reason: str = ""  # why the verdict is not PASS/FAIL, for a person
    order: Order = DEFAULT_ORDER
    selected: int | None = None  # how many tests were selected; None: the whole suite
    log_tail: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    # CPU seconds the run cost inside its environment (reset, patch, pytest, clean-up); None:
    # not measured (runs stored before it was).
    cpu_s: float | None = None

    def status_map(self) -> dict[str, TestStatus]:
        return {r.test_id: r.status for r in self.results}


class CoveredLines(Record):
    """The lines of one file one test executed on the clean repository."""

    test_id: str
    file: str  # repo-relative
    lines: tuple[int, ...]


class CoverageMap(Record):
    """Per-test coverage of an environment's clean repository: what screening selects from."""

    env_id: str
    entries: tuple[CoveredLines, ...]

    @functools.cached_property
    def by_file(self) -> dict[str, tuple[tuple[str, frozenset[int]], ...]]:
        """file → (test id, the lines it ran in that file) of every entry: a patch's screen
        looks up the files it touches, not every entry (a 500-test suite has tens of
        thousands)."""
        index: dict[str, list[tuple[str, frozenset[int]]]] = {}
        for entry in self.entries:
            index.setdefault(entry.file, []).append((entry.test_id, frozenset(entry.lines)))
        return {file: tuple(ran) for file, ran in index.items()}


class Strategy(StrEnum):
    PROCEDURAL = "procedural"  # an AST mutation operator
    MIRROR = "mirror"  # a real fix commit, reverted
    COMBINE = "combine"  # several validated bugs merged


class Rejection(StrEnum):
    NO_TEST_FAILED = "no_test_failed"
    UNCOVERED = "uncovered"  # no test executes the lines the patch touches
    TOUCHES_TESTS = "touches_tests"  # a bug may change source only, never tests or test config
    FLAKY = "flaky"  # the failing set differed between bug runs
    PATCH_FAILED = "patch_failed"
    ERROR = "error"  # pytest could not run the suite with the bug (e.g. collection error)
    TIMEOUT = "timeout"
    OOM = "oom"
    INFRA = "infra"  # the harness could not trust the run (missing or forged report)
    GOLD_FAILED = "gold_failed"  # the clean state did not pass the F2P tests
    DUPLICATE = "duplicate"
    # The worker validating it was lost (OOM-killed, crashed, hung) on every allowed attempt.
    GAVE_UP = "gave_up"


class Candidate(Record):
    """A proposed bug: a unified diff against the snapshot, with how it was made."""

    candidate_id: str
    snapshot_id: str
    strategy: Strategy
    operator: str
    seed: int
    target_file: str  # the file the bug changes (a combined bug's first, by path)
    patch: str
    # Qualified names inside target_file that the bug changes, e.g. ("Money.allocate",): an
    # operator's site, the functions a reverted fix touches, a combined bug's parents' names.
    # Empty where the change lies outside every function and class (module level).
    target_entities: tuple[str, ...] = ()
    fix_commit: str | None = None  # MIRROR only: the fix commit whose changes the bug undoes
    rejection: Rejection | None = None
    parents: tuple[str, ...] = ()  # candidate ids a combined bug was merged from (COMBINE only)

    @model_validator(mode="after")
    def _made_as_its_strategy_says(self) -> Candidate:
        if (self.strategy is Strategy.MIRROR) != (self.fix_commit is not None):
            raise ValueError("a candidate names its fix_commit exactly when its strategy is mirror")
        if (self.strategy is Strategy.COMBINE) != bool(self.parents):
            raise ValueError("a candidate has parents exactly when its strategy is combine")
        return self

    @staticmethod
    def make_id(snapshot_id: str, patch: str) -> str:
        return content_hash("candidate", snapshot_id, patch, HARNESS_VERSION)


class Task(Record):
    """A validated task; SWE-bench field names where they exist."""

    instance_id: str
    repo: str
    base_commit: str
    patch: str  # the bug diff
    problem_statement: str
    FAIL_TO_PASS: tuple[str, ...]
    PASS_TO_PASS: tuple[str, ...]
    image_name: str
    env_id: str
    candidate_id: str
    strategy: Strategy
    operator: str
    seed: int
    parents: tuple[str, ...] = ()
    harness_version: str = HARNESS_VERSION
    created_at: datetime = Field(default_factory=utcnow)


class TestRate(Record):
    """How one FAIL_TO_PASS / PASS_TO_PASS test behaved in the runs behind its task's verdict."""

    __test__ = False

    test_id: str
    gold_passed: int  # clean runs (the gold state) in which it passed
    gold_runs: int
    bug_passed: int  # full-suite runs with the bug in which it passed
    bug_runs: int


class TaskStats(Record):
    """What one task cost to make and how hard it looks: stored beside it, exported with it."""

    instance_id: str
    env_id: str
    own_cpu_s: float  # its own screening and validation runs (the environment's share is apart)
    runs: int  # runs behind its verdict: the clean suite's and its own
    gold_runs: int  # trusted clean runs (the task's gold state)
    bug_runs: int  # trusted runs with the bug (the full suite; the tests it broke, again alone)
    # Every test did what its role expects in every run: FAIL_TO_PASS passed clean and failed
    # with the bug, PASS_TO_PASS passed in all of them.
    steady: bool
    fail_to_pass: tuple[TestRate, ...]  # each FAIL_TO_PASS test's pass counts
    unsteady_p2p: tuple[TestRate, ...] = ()  # PASS_TO_PASS tests that ever failed; others never
    lines_added: int = 0
    lines_removed: int = 0
    files_changed: int = 0
    # Tests whose coverage on the clean tree runs a changed line; None where none was measured.
    covering_tests: int | None = None
    # Directory steps from the changed file to the nearest FAIL_TO_PASS test's file (0: the
    # same folder); None where no failing test names a file.
    test_distance: int | None = None
    # Median count of source files (tests aside) a FAIL_TO_PASS test runs on the clean tree:
    # how much code lies between the test and the bug; None where no coverage was measured.
    f2p_files_run: int | None = None


class SetupVerdict(StrEnum):
    """How far a source got towards a usable environment: the setup stage's own verdict."""

    OK = "ok"  # built, collected, and some tests pass on the clean repository
    INTAKE_FAILED = "intake_failed"  # the source could not be fetched or pinned
    SPEC_FAILED = "spec_failed"  # the repository's declarations could not be read into a spec
    BUILD_FAILED = "build_failed"  # requirements did not resolve, or the image/venv build failed
    COLLECTION_FAILED = "collection_failed"  # pytest could not collect the suite
    NO_TESTS = "no_tests"  # collected nothing
    NO_PASSING_TESTS = "no_passing_tests"  # ran, but no test passes on the clean repository
    KILLED = "killed"  # the test process died (a signal, OOM) and no test could be blamed
    TIMEOUT = "timeout"  # every baseline run hit the suite's time limit


class SetupResult(Record):
    """The setup stage of one source: intake, environment, collection and baseline."""

    source: str
    repo: str  # the repository's short name ("" when intake failed)
    verdict: SetupVerdict
    message: str = ""  # the first meaningful error line, or a one-line summary when ok
    snapshot_id: str = ""
    env_id: str = ""
    collected: int = 0  # tests in the clean suite's report
    passing: int = 0  # tests that passed in every baseline run
    # Tests and test modules left out of every run, each "NODE_ID_OR_PATH: why" (a test that
    # timed out, crashed its process, or a module that cannot be collected).
    excluded: tuple[str, ...] = ()
    # Every change made to what the repository declares, with its reason (requirements dropped
    # or relaxed, the project installed or not, test paths chosen).
    adjustments: tuple[str, ...] = ()
    duration_s: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def setup_id(self) -> str:
        return content_hash("setup", self.source, self.snapshot_id, self.env_id)


class AuditVerdict(StrEnum):
    REPRODUCED = "reproduced"
    DIVERGED = "diverged"
    ERRORED = "errored"


class DriftReason(StrEnum):
    """Why a task no longer reproduces."""

    BUILD_FAILED = "build_failed"  # the environment could not be rebuilt from its spec
    DEPENDENCY_CHANGED = "dependency_changed"  # the spec now resolves to another lock
    IMAGE_CHANGED = "image_changed"  # same lock, different files in the rebuilt environment
    SOURCE_CHANGED = "source_changed"  # the snapshot is gone and its source gives another commit
    ENVIRONMENT_MISSING = "environment_missing"  # the stored image / venv is gone (no --rebuild)
    RUN_FAILED = "run_failed"  # a run timed out, ran out of memory, or could not be trusted
    TEST_FLIPPED = "test_flipped"  # a test is, in every run, not what the task says it is
    TEST_FLAKY = "test_flaky"  # a test disagreed with itself across the K runs


class TaskAudit(Record):
    """One task, re-verified ``runs`` times in its (possibly rebuilt) environment."""

    audit_id: str
    audit_run: str  # one id per `synth audit` invocation
    instance_id: str
    env_id: str
    repo: str
    verdict: AuditVerdict
    reasons: tuple[DriftReason, ...]  # sorted; empty when reproduced
    details: tuple[str, ...]  # one line per finding
    runs: int  # bug-state runs (and as many gold-state runs of its environment)
    rebuilt: bool
    flipped: tuple[str, ...] = ()  # test ids
    flaky: tuple[str, ...] = ()
    duration_s: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)

    @staticmethod
    def make_id(audit_run: str, instance_id: str) -> str:
        return content_hash("audit", audit_run, instance_id)


class SolutionFlag(StrEnum):
    """Why part of a solution was dropped before scoring."""

    EDITS_TESTS = "edits_tests"  # a test file or test helper, added, changed or deleted
    TEST_CONFIG = "test_config"  # pytest.ini, tox.ini, setup.cfg, pyproject.toml, ...
    TEST_HOOK = "test_hook"  # conftest.py, a pytest plugin, sitecustomize, a .pth file
    SHADOWS_MODULE = "shadows_module"  # a new top-level module that could shadow an import
    GIT_METADATA = "git_metadata"  # files under .git
    # A binary diff, a compiled module, a symlink or other special file, a file-mode change:
    # nothing a source fix needs, and nothing the probe scan or a reviewer can read.
    NOT_SOURCE = "not_source"
    # Added code that names the harness's secrets (the report plugin, its SYNTH_* settings,
    # /proc, sys.modules): code under test runs inside pytest's process, so it could read the
    # run's nonce and write a report of its own. Nothing can be restored: the solution is
    # scored tampered, unrun.
    HARNESS_PROBE = "harness_probe"


class Outcome(StrEnum):
    RESOLVED = "resolved"  # every FAIL_TO_PASS and PASS_TO_PASS test passes
    PARTIAL = "partial"  # some FAIL_TO_PASS tests pass, not all of them (or a P2P test broke)
    UNRESOLVED = "unresolved"  # no FAIL_TO_PASS test passes
    ERROR = "error"  # the patch did not apply, or the run could not be trusted (see reason)
    TAMPERED = "tampered"  # the solution reached for the harness or its verdict (see evidence)


class TestOutcome(Record):
    __test__ = False  # not a pytest test class, despite the name

    test_id: str
    expected: str  # "FAIL_TO_PASS" | "PASS_TO_PASS"
    status: TestStatus  # in the first run; ``passed`` says whether it passed in every run
    passed: bool


class SolutionVerdict(Record):
    """How one candidate fix of one task scored. Its id hashes task, patch and harness."""

    solution_id: str
    instance_id: str
    patch_hash: str
    outcome: Outcome
    reason: str = ""  # why the outcome is ERROR, for a person
    fail_to_pass_passed: int
    fail_to_pass_total: int
    pass_to_pass_passed: int
    pass_to_pass_total: int
    tests: tuple[TestOutcome, ...]
    flags: tuple[SolutionFlag, ...] = ()
    dropped: tuple[str, ...] = ()  # files the solution touched that were restored before running
    evidence: tuple[str, ...] = ()  # why the outcome is TAMPERED, one finding per item
    canary: str = ""  # the task whose bug was the canary behind a RESOLVED ("" if none ran)
    runs: int
    duration_s: float
    harness_version: str = HARNESS_VERSION
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def resolved(self) -> bool:
        return self.outcome is Outcome.RESOLVED


class TaskContext(Record):
    """What scoring a task needs besides the patch: the task, its environment and snapshot, and
    the candidate canaries (other tasks of the same environment, best first)."""

    task: Task
    environment: Environment
    snapshot: Snapshot
    canaries: tuple[Task, ...] = ()
