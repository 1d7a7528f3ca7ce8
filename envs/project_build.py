"""The project itself, built the way its own build backend builds it (PEP 517), on the host.

Tests expect the package *installed*, not only importable: ``importlib.metadata.version(...)``,
console scripts they start by subprocess, entry points and pytest plugins it registers, version
files its build backend writes (hatch-vcs, setuptools_scm) and compiled extensions. Yet the code
under test must stay the working copy every run resets and patches. So the host builds a wheel
of the snapshot once (``pip wheel --no-deps``: the project's own backend, whatever it is); the
environment installs it and then drops the package's module files, keeping its metadata and
scripts, while the working copy on ``sys.path`` supplies the code. Files the build made that
the working copy lacks (generated version modules, compiled extensions) go into the pristine
copy, as a developer's ``pip install -e .`` would leave them in the tree.

A version taken from git tags is given to the backend (``SETUPTOOLS_SCM_PRETEND_VERSION``): the
snapshot carries no tags, on purpose, and the version is what tags said at intake.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import canonicalize_name, parse_wheel_filename

from synth import proc
from synth.records import Requirement, Snapshot, content_hash

# Bump when what a build yields changes: it keys the host's cache of built projects.
RECIPE = 2
BUILD_TIMEOUT_S = 900
# Names of files some build backends fetch over the network when the tree has none (a license
# text): with an empty one present they do not.
_LICENSE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENCE", "COPYING")


@dataclass(frozen=True)
class ProjectBuild:
    """What building the project gave: a wheel to install (or why there is none), and the files
    the build generated inside the package that the working copy does not hold."""

    wheel: Path | None
    name: str = ""  # the distribution's canonical name
    version: str = ""
    generated: tuple[str, ...] = ()  # repo-relative paths, their bytes under ``files_dir``
    files_dir: Path | None = None
    notes: tuple[str, ...] = ()  # what was done and why, for the setup record

    def install(self, lock: tuple[Requirement, ...], python: str) -> bool:
        """Install the wheel? Not when the harness runs on the same distribution (the project
        is pluggy, say, which pytest imports): the lock's release stays for pytest to start on,
        and tests still import the working copy first. Nor when the host built it for another
        interpreter than the environment's (a compiled extension)."""
        if self.wheel is None or self.name in {canonicalize_name(r.name) for r in lock}:
            return False
        _, _, _, tags = parse_wheel_filename(self.wheel.name)
        wanted = "cp" + python.replace(".", "")
        return any(t.abi == "none" and t.interpreter.startswith("py")
                   or t.interpreter == wanted for t in tags)


def build_project(snapshot: Snapshot, cache: Path, *, source_root: str,
                  version: str | None = None) -> ProjectBuild:
    """Build ``snapshot``'s wheel once (cached by snapshot, version and recipe)."""
    out = cache / "projects" / content_hash("project", snapshot.snapshot_id, version, RECIPE,
                                            source_root)
    manifest = out / "build.json"
    if manifest.exists():
        return _load(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
        staging = Path(tmp) / "out"
        staging.mkdir()
        result = _build(Path(snapshot.path), Path(tmp), staging, source_root, version)
        (staging / "build.json").write_text(json.dumps(result, indent=1, sort_keys=True))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    return _load(out)


def _build(repo: Path, tmp: Path, staging: Path, source_root: str,
           version: str | None) -> dict:
    notes: list[str] = []
    work = tmp / "tree"
    shutil.copytree(repo, work, symlinks=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_TARGET", "PYTHON"))}
    if version:
        env["SETUPTOOLS_SCM_PRETEND_VERSION"] = version
        notes.append(f"project version {version}: from the git tags at intake (the snapshot "
                     "keeps none)")
    wheels = tmp / "wheels"
    done = _pip_wheel(work, wheels, env)
    if done.returncode != 0 and not any((work / n).exists() for n in _LICENSE_NAMES):
        # A backend that fetches the license text when the tree has none (offline, that
        # fails); with an empty file it takes that one. The file is not part of the tree.
        (work / "LICENSE").write_text("")
        done = _pip_wheel(work, wheels, env)
        if done.returncode == 0:
            notes.append("built with an empty LICENSE file: the build backend fetches the "
                         "license text over the network when the tree has none")
    built = sorted(wheels.glob("*.whl")) if wheels.exists() else []
    if done.returncode != 0 or not built:
        line = _first_line(done.stderr or done.stdout)
        notes.append(f"the project itself is not installed (its build failed: {line}); tests "
                     "import the working copy only")
        return {"wheel": None, "notes": notes}
    wheel = built[0]
    shutil.copy(wheel, staging / wheel.name)
    name, wheel_version, _, tags = parse_wheel_filename(wheel.name)
    generated = _generated_files(wheel, repo, source_root, staging / "files")
    notes.append(f"the project is installed from its own build ({wheel.name}): metadata, "
                 "console scripts and entry points; its modules come from the working copy")
    if generated:
        notes.append("files the build generated, added to the working copy: "
                     + ", ".join(generated))
    return {"wheel": wheel.name, "name": str(name), "version": str(wheel_version),
            "generated": generated, "notes": notes}


def _pip_wheel(work: Path, wheels: Path, env: dict[str, str]) -> proc.Completed:
    return proc.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                     "--disable-pip-version-check", "-q", "--wheel-dir", wheels, work],
                    env=env, check=False, timeout=BUILD_TIMEOUT_S, cwd=work)


def _generated_files(wheel: Path, repo: Path, source_root: str, dest: Path) -> list[str]:
    """Files of the wheel's packages that the tree lacks, but whose folder it has: what the build
    generated (a version module, a compiled extension). Copied under ``dest`` by repo path."""
    found: list[str] = []
    root = PurePosixPath(source_root)
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            top = name.split("/", 1)[0]
            if info.is_dir() or top.endswith((".dist-info", ".data")) or "/" not in name:
                continue
            rel = str(root / name) if source_root != "." else name
            target = repo / rel
            if target.exists() or not target.parent.is_dir() or name.endswith(".pyc"):
                continue
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(zf.read(info))
            found.append(rel)
    return sorted(found)


def _load(out: Path) -> ProjectBuild:
    data = json.loads((out / "build.json").read_text())
    wheel = out / data["wheel"] if data.get("wheel") else None
    return ProjectBuild(
        wheel=wheel, name=canonicalize_name(data.get("name", "")) if wheel else "",
        version=data.get("version", ""), generated=tuple(data.get("generated", ())),
        files_dir=out / "files", notes=tuple(data.get("notes", ())),
    )


def project_files(build: ProjectBuild, lock: tuple[Requirement, ...],
                  python: str) -> dict[str, bytes]:
    """What an image's build context holds of the project's build, by path in the context:
    ``project/WHEEL`` (when it is installed) and ``generated/REPO_PATH`` (copied over the
    pristine working copy)."""
    files: dict[str, bytes] = {}
    if build.install(lock, python) and build.wheel is not None:
        files[f"project/{build.wheel.name}"] = build.wheel.read_bytes()
    if build.files_dir is not None:
        for rel in build.generated:
            files[f"generated/{rel}"] = (build.files_dir / rel).read_bytes()
    return files


def project_context(build: ProjectBuild, lock: tuple[Requirement, ...],
                    python: str) -> dict[str, str | bool]:
    """The Dockerfile template's settings for ``project_files``."""
    wheel = build.wheel.name if build.install(lock, python) and build.wheel else ""
    return {"project_wheel": wheel, "generated": bool(build.generated)}


def add_generated(build: ProjectBuild, tree: Path) -> None:
    """Copy the generated files into a working copy (the pristine one of an environment)."""
    if build.files_dir is None:
        return
    for rel in build.generated:
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build.files_dir / rel, target)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    specific = [ln for ln in lines if "error" in ln.lower() and "subprocess-exited" not in ln]
    return (specific[-1] if specific else lines[-1] if lines else "no output")[:300]
