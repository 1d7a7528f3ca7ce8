"""Installed, the project is one top-level package, ``synth``: it installs beside the PyPI
``verifiers`` (an RL-environment library of this field) and both import in one interpreter."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pip(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_the_wheel_holds_one_top_level_package(tmp_path: Path) -> None:
    isolation = () if importlib.util.find_spec("setuptools") is None else (
        "--no-build-isolation",)
    pip("wheel", "--quiet", "--no-deps", *isolation, "-w", str(tmp_path), str(ROOT), cwd=tmp_path)
    (wheel,) = tmp_path.glob("synth_factory-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"synth", wheel.name.split("-")[0] + "-"
                                                + wheel.name.split("-")[1] + ".dist-info"}
    for folder in ("envs", "verifiers", "pipelines", "data", "trainer"):
        assert f"synth/{folder}/__init__.py" in names
    assert "synth/envs/templates/forkserver.py" in names
    assert "synth/envs/templates/Dockerfile.j2" in names


@pytest.mark.network
def test_the_pypi_verifiers_imports_beside_ours(tmp_path: Path) -> None:
    target = tmp_path / "site"
    # Its root package imports nothing heavy; its dependencies are not what this is about.
    pip("install", "--quiet", "--no-deps", "--target", str(target), "verifiers", cwd=tmp_path)
    probe = ("import verifiers, synth.verifiers.screening as ours\n"
             "print(verifiers.__file__); print(ours.__file__)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(target),
                                                        "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    theirs, ours = done.stdout.split()
    assert Path(theirs).is_relative_to(target)
    assert Path(ours).resolve() == ROOT / "verifiers" / "screening.py"
