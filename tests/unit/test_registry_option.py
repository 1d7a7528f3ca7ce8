"""--registry HOST[:PORT]/PREFIX: what Docker would misread is refused, the fix in the message."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from synth.cli import app
from synth.envs.backend import BackendConfig, check_registry
from synth.records import BackendKind


@pytest.mark.parametrize(
    "value",
    ["10.0.0.5:5000/synth", "localhost/synth", "localhost:5000/a/b", "registry.example.org/synth",
     "my-host:5000/team_a/synth-envs"],
)
def test_host_and_prefix_are_accepted(value: str) -> None:
    assert check_registry(value) == value
    assert BackendConfig(kind=BackendKind.DOCKER, cache_dir=Path("."), registry=value).registry


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("http://10.0.0.5:5000/synth", "drop the scheme"),
        ("10.0.0.5:5000/Synth", "lowercase"),
        ("10.0.0.5:5000", "10.0.0.5:5000/synth"),  # no prefix: the fix is spelled out
        ("myregistry/synth", "not a registry host"),  # Docker would read a Docker Hub user
        ("10.0.0.5:5000/synth/", "HOST[:PORT]/PREFIX"),
        ("10.0.0.5:5000/synth:tag", "HOST[:PORT]/PREFIX"),
    ],
)
def test_what_docker_would_misread_is_refused_with_the_fix(value: str, says: str) -> None:
    with pytest.raises(ValueError, match="--registry") as caught:
        check_registry(value)
    assert says in str(caught.value)
    with pytest.raises(ValidationError):
        BackendConfig(kind=BackendKind.DOCKER, cache_dir=Path("."), registry=value)


def test_cli_refuses_a_bad_registry_before_starting_anything(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(tmp_path), "--db", str(tmp_path / "x.duckdb"),
                                      "--registry", "myregistry/synth"])
    assert result.exit_code == 2
    assert "not a registry host" in result.output
    assert not (tmp_path / "x.duckdb").exists()
