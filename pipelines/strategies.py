"""How each bug strategy feeds the factory: procedural mutation, real-fix mirroring, combination.

Plain functions of records, like ``pipelines.stages``, so Ray schedules them and tests call them
directly. ``pipelines.factory`` decides when each runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from synth.mutate import Generation, generate
from synth.records import CoverageMap

# Functions with fewer statements are left out: one-liners hold few sites, and their mutations
# are the ones a solver spots at a glance.
MIN_STATEMENTS = 2


def executed_lines(coverage: CoverageMap | None) -> dict[str, frozenset[int]] | None:
    """File → lines any test executed on the clean repository (None without a coverage map)."""
    if coverage is None:
        return None
    lines: dict[str, set[int]] = {}
    for entry in coverage.entries:
        lines.setdefault(entry.file, set()).update(entry.lines)
    return {file: frozenset(numbers) for file, numbers in lines.items()}


def procedural(
    snapshot_id: str,
    targets: Mapping[str, str],
    coverage: CoverageMap | None,
    *,
    max_candidates: int,
    seed: int,
) -> Generation:
    """Mutation candidates on the functions the tests execute, skipping one-liners."""
    return generate(
        snapshot_id,
        targets,
        max_candidates=max_candidates,
        seed=seed,
        covered=executed_lines(coverage),
        min_statements=MIN_STATEMENTS,
    )
