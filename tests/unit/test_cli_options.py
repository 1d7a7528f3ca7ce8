"""Options the CLI checks before any work starts."""

from __future__ import annotations

from enum import StrEnum

import pytest
import typer
from typer.testing import CliRunner

from synth.choices import BackendChoice, ExportFormat, StatementStyle
from synth.cli import candidate_budget
from synth.mutate import ALL_CANDIDATES
from synth.records import Strategy
from synth.trainer.config import ConfigName, ExpertBackend


@pytest.mark.parametrize(("text", "budget"), [("24", 24), ("all", ALL_CANDIDATES),
                                             (" ALL ", ALL_CANDIDATES), ("1", 1)])
def test_max_candidates_takes_a_number_or_all(text: str, budget: int) -> None:
    assert candidate_budget(text) == budget


@pytest.mark.parametrize("text", ["0", "-3", "lots", "2.5", ""])
def test_a_bad_max_candidates_is_refused_before_any_work(text: str) -> None:
    with pytest.raises(typer.Exit) as raised:
        candidate_budget(text)
    assert raised.value.exit_code == 2


def test_synth_help_imports_no_heavy_module() -> None:
    """The CLI imports its heavy modules inside the commands: `synth --help` (and typing a
    command wrong) stays instant."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from synth.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('duckdb', 'ray', 'torch', 'docker', 'triton', 'libcst', 'pyarrow', 'git')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def _flat(output: str) -> str:
    """Typer's error panel wraps its message inside box borders: read it as one line."""
    return " ".join(output.replace("│", " ").split())


# Each option whose values are a closed set: the command (with what else it requires), the
# option, and the enum typer checks it against.
ENUM_OPTIONS = [
    (["run", "."], "--backend", BackendChoice),
    (["run", "."], "--strategy", Strategy),
    (["run", "."], "--statement-style", StatementStyle),
    (["export", "--out", "x"], "--format", ExportFormat),
    (["train"], "--config", ConfigName),
    (["train"], "--backend", ExpertBackend),
    (["train", "eval"], "--backend", BackendChoice),
]


@pytest.mark.parametrize(("command", "option", "choices"), ENUM_OPTIONS)
def test_a_value_outside_an_options_choices_is_refused_naming_them(
    command: list[str], option: str, choices: type[StrEnum]
) -> None:
    """Typer checks these options against their enums before any work starts: exit 2, with
    the bad value and every valid one in the message."""
    from synth.cli import app

    result = CliRunner().invoke(app, [*command, option, "kubernetes"])
    text = _flat(result.output)
    assert result.exit_code == 2, text
    assert f"Invalid value for '{option}'" in text and "'kubernetes' is not one of" in text
    assert all(f"'{choice}'" in text for choice in choices), text


@pytest.mark.parametrize(("command", "option", "choices"), ENUM_OPTIONS)
def test_help_lists_an_options_choices(
    command: list[str], option: str, choices: type[StrEnum]
) -> None:
    from synth.cli import app

    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if f" {option} " in x)
    assert "|".join(choices) in line, line


def test_statement_style_is_a_style_or_auto() -> None:
    """`--statement-style` takes every style synth.statement writes, and auto."""
    from synth.statement import Style

    assert {s.value for s in StatementStyle} == {"auto"} | {s.value for s in Style}


def test_the_chosen_enums_reach_the_strategy_options() -> None:
    from synth.cli_mutate import strategy_options
    from synth.statement import Style

    options = strategy_options([Strategy.MIRROR], max_fixes=1, max_combined=1,
                               statement_style=StatementStyle.STORY, lm_url=None, lm_model=None)
    assert options.strategies == {Strategy.MIRROR} and options.style is Style.STORY
