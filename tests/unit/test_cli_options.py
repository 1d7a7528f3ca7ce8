"""Options `synth run` reads before any work starts."""

from __future__ import annotations

import pytest
import typer

from synth.cli import candidate_budget
from synth.mutate import ALL_CANDIDATES


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
