"""A host-side, content-addressed wheelhouse and the lock that makes an environment auditable.

Containers cannot reach the package index (the host's TLS proxy is trusted only by the host), so
the host resolves and builds every wheel, and images install them with ``--no-index``. The lock
(name, version, wheel filename, sha256) is recorded with the environment and installed with
``--require-hashes``: the same lock rebuilds the same environment bit for bit.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from packaging.utils import parse_wheel_filename

from synth import proc
from synth.records import Requirement, content_hash

LOCK_NAME = "lock.txt"


class WheelhouseError(RuntimeError):
    pass


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
        # `pip wheel` takes published wheels as they are and builds the rest (sdist-only
        # packages, their build back-ends included) on the host, where the index is reachable.
        done = proc.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--disable-pip-version-check",
                "-q",
                "--prefer-binary",
                "--wheel-dir",
                staging,
                "-r",
                req_file,
            ],
            check=False,
            timeout=1800,
        )
        if done.returncode != 0:
            raise WheelhouseError(
                "could not resolve the environment's requirements on the host "
                f"({', '.join(requirements)}):\n{(done.stderr or done.stdout)[-1500:]}"
            )
        lock = lock_of(staging)
        (staging / LOCK_NAME).write_text(render_lock(lock))
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    return final, lock


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
