"""The closed sets a user picks from on the command line, where no lighter owner holds them.

Plain enums, standard library only: the CLI types its options with them (typer then refuses a
bad value and `--help` lists the choices) without loading pydantic, DuckDB or Docker at import.
Their owners (``envs.backend``, ``data.export``, ``synth.cli_mutate``) import them from here.
"""

from __future__ import annotations

from enum import StrEnum


class BackendChoice(StrEnum):
    """Where tests run: a ``BackendKind``, or ``auto`` (Docker when an engine answers)."""

    AUTO = "auto"
    DOCKER = "docker"
    LOCAL = "local"


class ExportFormat(StrEnum):
    SWEBENCH = "swebench"
    SWESMITH = "swesmith"
    PARQUET = "parquet"
    HARBOR = "harbor"


class StatementStyle(StrEnum):
    """``synth.statement.Style``, or ``auto``: a style chosen per task by its seed."""

    AUTO = "auto"
    REPORT = "report"
    TERSE = "terse"
    STORY = "story"
    CI = "ci"
