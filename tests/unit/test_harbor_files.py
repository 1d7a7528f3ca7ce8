"""The pure half of the Harbor export (data/harbor.py): task.toml as Harbor's schema reads it,
names Harbor accepts, and files that are a function of their inputs only."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import tomllib
from pathlib import Path

import pytest

from synth.data.harbor import originals_tar, package_name, task_toml
from synth.records import Strategy
from tests.unit.test_accounting import SNAP, env, task

# harbor/constants.py ORG_NAME_PATTERN (harbor 0.26.0)
ORG_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*/[a-zA-Z0-9][a-zA-Z0-9._-]*$")
METRICS = {"instance_id": "ledger.1", "cpu_s": 10.5, "steady": True, "test_distance": None,
           "f2p_tests": 1, "repo": "ledger"}


def test_task_toml_reads_back_with_the_figures_and_the_limits() -> None:
    text = task_toml(task(), env(), SNAP, METRICS, timeout_s=300.0, memory_mb=2048, cpus=1.0)
    config = tomllib.loads(text)
    assert config["schema_version"] == "1.4"
    meta = config["metadata"]
    assert (meta["cpu_s"], meta["steady"], meta["f2p_tests"]) == (10.5, True, 1)
    assert "test_distance" not in meta  # None: not measured, so not written
    assert meta["fail_to_pass"] == ["tests/test_money.py::test_add"]
    assert meta["harbor"]["lint"]["ignore"] == ["shared-verifier"]
    assert config["verifier"]["timeout_sec"] > 300.0
    assert config["environment"] == {"build_timeout_sec": 600.0, "cpus": 1.0,
                                     "memory_mb": 2048, "network_mode": "no-network",
                                     "workdir": "/testbed"}


def test_strings_with_quotes_and_unicode_survive_toml() -> None:
    odd = task().model_copy(update={"FAIL_TO_PASS": ('tests/t.py::test_x["a\\\\b"-ü]',),
                                    "operator": 'quo"te'})
    config = tomllib.loads(task_toml(odd, env(), SNAP, {}, timeout_s=1.0, memory_mb=1, cpus=1))
    assert config["metadata"]["fail_to_pass"] == list(odd.FAIL_TO_PASS)
    assert config["metadata"]["operator"] == 'quo"te'


def test_a_figure_toml_cannot_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="TOML"):
        task_toml(task(), env(), SNAP, {"cpu_s": float("nan")}, timeout_s=1.0, memory_mb=1,
                  cpus=1)


@pytest.mark.parametrize("instance_id", ["ledger.1", ".hidden:x/y", "a b[c]", "-dash"])
def test_package_names_fit_harbors_org_name_rule(instance_id: str) -> None:
    name = package_name(task().model_copy(update={"instance_id": instance_id}))
    assert ORG_NAME.match(name) and ".." not in name, name


def test_the_originals_tarball_depends_on_the_files_only(tmp_path: Path) -> None:
    for rel, text in (("tests/test_a.py", "a"), ("tests/conftest.py", "c"), ("pytest.ini", "p")):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    first = originals_tar(tmp_path, ["tests/test_a.py", "pytest.ini", "tests/conftest.py"])
    (tmp_path / "tests" / "test_a.py").touch()  # a new mtime changes nothing
    second = originals_tar(tmp_path, ["tests/conftest.py", "pytest.ini", "tests/test_a.py",
                                      "missing.py"])
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as tar:
        assert tar.getnames() == ["pytest.ini", "tests/conftest.py", "tests/test_a.py"]
        assert {(m.uid, m.mtime, m.mode) for m in tar.getmembers()} == {(0, 0, 0o644)}


def test_the_strategy_names_the_description() -> None:
    mirror = task().model_copy(update={"strategy": Strategy.MIRROR, "operator": "mirror"})
    config = tomllib.loads(task_toml(mirror, env(), SNAP, {}, timeout_s=1, memory_mb=1, cpus=1))
    assert config["task"]["description"].startswith("ledger: a mirror bug")
