"""A host-side, content-addressed wheelhouse and the lock that makes an environment auditable.

Containers cannot reach the package index (the host's TLS proxy is trusted only by the host), so
the host resolves and builds every wheel, and images install them with ``--no-index``. The lock
(name, version, wheel filename, sha256) is recorded with the environment and installed with
``--require-hashes``: the same lock rebuilds the same environment bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement as Pep508
from packaging.utils import parse_wheel_filename

from synth import proc
from synth.envs.pip_failures import Culprit, pip_culprits
from synth.envs.requirements_policy import canonical
from synth.records import Requirement, content_hash

LOCK_NAME = "lock.txt"


class WheelhouseError(RuntimeError):
    """The requirements could not be resolved; ``output`` is pip's, for the fallback to read."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def wheelhouse_dir(cache: Path, requirements: Sequence[str], python: str) -> Path:
    return cache / "wheelhouses" / content_hash("wheelhouse", python, sorted(requirements))


def ensure_wheelhouse(
    cache: Path, requirements: Sequence[str], python: str
) -> tuple[Path, tuple[Requirement, ...]]:
    """Resolve ``requirements`` into wheels once per distinct set; return (dir, lock)."""
    final = wheelhouse_dir(cache, requirements, python)
    if (final / LOCK_NAME).exists():
        return final, read_lock(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent, prefix=".build-") as tmp:
        staging = Path(tmp) / "wheels"
        req_file = Path(tmp) / "requirements.in"
        req_file.write_text("\n".join(requirements) + "\n")
        done = proc.run(pip_command(python, staging, req_file), check=False, timeout=1800)
        if done.returncode != 0:
            output = f"{done.stdout}\n{done.stderr}"
            raise WheelhouseError(
                "could not resolve the environment's requirements on the host "
                f"({', '.join(requirements)}):\n{(done.stderr or done.stdout)[-1500:]}",
                output,
            )
        lock = lock_of(staging)
        (staging / LOCK_NAME).write_text(render_lock(lock))
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    return final, lock


def pip_command(python: str, staging: Path, req_file: Path) -> list[str | Path]:
    """The pip run that fills ``staging`` with wheels for ``python``.

    For the host's own Python, `pip wheel` takes published wheels as they are and builds the
    rest (sdist-only packages, their build back-ends included) on the host, where the index is
    reachable. For another Python nothing can be built here (the host has no such interpreter),
    so `pip download` takes published wheels only, for CPython ``python`` on x86_64 Linux; a
    project without such a wheel fails and the fallback of ``resolve_wheelhouse`` drops it.
    """
    # Not -q: the resolver's conflict report, which the fallback reads, is logged at INFO level.
    common: list[str | Path] = [sys.executable, "-m", "pip"]
    if python == HOST_PYTHON:
        return [*common, "wheel", "--disable-pip-version-check", "--prefer-binary",
                "--wheel-dir", staging, "-r", req_file]
    tag = python.replace(".", "")
    platforms = [f"--platform={p}" for p in _LINUX_PLATFORMS]
    return [*common, "download", "--disable-pip-version-check", "--only-binary=:all:",
            "--python-version", python, "--implementation", "cp",
            f"--abi=cp{tag}", "--abi=abi3", "--abi=none", *platforms,
            "--dest", staging, "-r", req_file]


HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
# Wheels a glibc x86_64 CPython accepts, newest glibc the trixie base has (2.41) down.
_LINUX_PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(41, 16, -1)),
    "manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64",
)


@dataclass(frozen=True)
class Wheelhouse:
    path: Path
    lock: tuple[Requirement, ...]
    requirements: tuple[str, ...]  # what was finally resolved
    adjustments: tuple[str, ...] = ()  # each relaxed or dropped requirement, with its reason


Builder = Callable[[Path, Sequence[str], str], tuple[Path, tuple[Requirement, ...]]]
MAX_ATTEMPTS = 8


def resolve_wheelhouse(
    cache: Path,
    requirements: Sequence[str],
    python: str,
    *,
    keep: Collection[str] = ("pytest",),
    attempts: int = MAX_ATTEMPTS,
    build: Builder = ensure_wheelhouse,
) -> Wheelhouse:
    """Like ensure_wheelhouse, but when pip fails, relax (pinned → newest compatible) or drop
    (unresolvable, unbuildable) the requirements pip blames, and retry. ``keep`` names are
    never touched: an environment without pytest is no environment."""
    memo = _memo_path(cache, requirements, python)
    if memo.exists():
        record = json.loads(memo.read_text())
        path, lock = build(cache, record["requirements"], python)
        return Wheelhouse(path, lock, tuple(record["requirements"]), tuple(record["adjustments"]))
    current: list[str] = list(requirements)
    notes: list[str] = []
    for _ in range(attempts):
        try:
            path, lock = build(cache, current, python)
        except WheelhouseError as exc:
            step = fallback_step(current, pip_culprits(exc.output, current), keep)
            if step is None:
                raise WheelhouseError(
                    f"{exc}\nNothing left to relax or drop: pip blamed no requirement it may "
                    f"change (kept as declared: {', '.join(sorted(keep))}).", exc.output,
                ) from exc
            current, changes = step
            notes += changes
            if not current:
                raise WheelhouseError("none of the requirements could be resolved for Python "
                                      f"{python}: " + "; ".join(notes), exc.output) from exc
            continue
        if notes:
            memo.parent.mkdir(parents=True, exist_ok=True)
            memo.write_text(json.dumps({"requirements": current, "adjustments": notes}))
        return Wheelhouse(path, lock, tuple(current), tuple(notes))
    raise WheelhouseError(f"gave up resolving for Python {python} after {attempts} attempts: "
                          + "; ".join(notes))


def _memo_path(cache: Path, requirements: Sequence[str], python: str) -> Path:
    """Where the outcome of a fallback is kept, so a rerun does not fail its way there again."""
    return cache / "wheelhouses" / (content_hash("fallback", python, sorted(requirements))
                                    + ".fallback.json")


def fallback_step(
    requirements: Sequence[str],
    culprits: Sequence[Culprit],
    keep: Collection[str],
) -> tuple[list[str], list[str]] | None:
    """The next requirement list and what changed, or None when nothing may change.
    A pinned culprit is first relaxed to its bare name (the newest compatible release usually
    has a wheel and agrees with the others); an unpinned one (relaxed before, or never pinned)
    is dropped."""
    protected = {canonical(k) for k in keep}
    out = list(requirements)
    notes: list[str] = []
    for culprit in culprits:
        req = Pep508(culprit.requirement)
        name = canonical(req.name)
        if name in protected:
            continue
        why = culprit.kind.value + (f" (through {culprit.via})" if culprit.via else "")
        index = out.index(culprit.requirement)
        if req.specifier:
            req.specifier = type(req.specifier)("")
            out[index] = str(req)
            notes.append(f"relaxed {culprit.requirement} to {out[index]}: {why}")
        else:
            del out[index]
            notes.append(f"dropped {culprit.requirement}: {why}")
    return (out, notes) if notes else None


def lock_of(wheel_dir: Path) -> tuple[Requirement, ...]:
    entries = []
    for wheel in sorted(wheel_dir.glob("*.whl")):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        entries.append(
            Requirement(name=str(name), version=str(version), filename=wheel.name, sha256=digest)
        )
    return tuple(sorted(entries, key=lambda r: r.name))


def render_lock(lock: Sequence[Requirement]) -> str:
    """A pip requirements file pinning every wheel by version and hash."""
    return "".join(f"{r.name}=={r.version} --hash=sha256:{r.sha256}\n" for r in lock)


def read_lock(wheel_dir: Path) -> tuple[Requirement, ...]:
    lock = lock_of(wheel_dir)
    if render_lock(lock) != (wheel_dir / LOCK_NAME).read_text():
        raise WheelhouseError(
            f"{wheel_dir}: wheels no longer match {LOCK_NAME}; delete the folder to rebuild"
        )
    return lock
