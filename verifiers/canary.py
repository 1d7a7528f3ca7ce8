"""Canaries: the bugs a resolved solution is run again with (verifiers.solution.put_to_canary).

A canary is a bug whose failing tests are known from a run the harness trusts: another task of
the same environment (validated with flake control), or one *minted* here: a mutation of the
task's own files, outside the functions its bug changes, run once on the clean tree (the
factory's own, unsealed run: no solution code in it) to learn which of the task's tests catch it.

A canary *covers* a task when the task's own FAIL_TO_PASS tests catch it. Only such a canary
exposes a forgery aimed at the task's tests, or a weakened comparison of the task's own types
(an ``__eq__`` that is always true fools exactly the tests that compare those values): covering
canaries are tried first, and one is minted when no stored task covers.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from synth.envs.backend import Backend, RunRequest
from synth.mutate import apply_site, compiles, find_sites, make_patch
from synth.patches import parse_patch, touched_old_lines
from synth.records import RunKind, Task, TestStatus, Verdict
from synth.targeting import entities
from synth.verifiers.runner import run_suite
from synth.verifiers.screening import is_test_path

MINT_TRIES = 6  # mutations run, at most, to mint one canary for a task
_FAILING = (TestStatus.FAILED, TestStatus.ERROR)


@dataclass(frozen=True)
class Canary:
    name: str  # the task it comes from, or "minted:FILE:ENTITY:OPERATOR"
    patch: str  # against the clean tree
    caught: frozenset[str]  # tests of the task's selection that fail with it

    def covers(self, task: Task) -> bool:
        return bool(self.caught & set(task.FAIL_TO_PASS))


def stored(task: Task, others: tuple[Task, ...], selected: frozenset[str]) -> list[Canary]:
    """Other tasks as canaries, in the order given, each with the selected tests it fails."""
    out = []
    for other in others:
        caught = frozenset(other.FAIL_TO_PASS) & selected
        if other.instance_id != task.instance_id and caught:
            out.append(Canary(other.instance_id, other.patch, caught))
    return out


_MINTED: dict[str, Canary | None] = {}  # by instance id, for this process


def mint(backend: Backend, ctx, selected: tuple[str, ...]) -> Canary | None:
    """A covering canary in the files of the task's bug, or None when MINT_TRIES mutations
    found none. Cached per task for the life of the process."""
    task = ctx.task
    if task.instance_id in _MINTED:
        return _MINTED[task.instance_id]
    found = None
    wanted = set(task.FAIL_TO_PASS)
    tries = 0
    named = _names_in_tests(ctx)
    for rel, source, busy in _bug_files(ctx):
        try:
            sites = [s for s in find_sites(source, rel)
                     if s.entity and not any(s.entity == b or s.entity.startswith(b + ".")
                                             or b.startswith(s.entity + ".") for b in busy)]
        except Exception:  # noqa: BLE001 - libcst cannot read it: no canary from this file
            continue
        random.Random(f"{task.instance_id}:{rel}").shuffle(sites)
        # Functions the failing tests name, or the changed functions call, first: their
        # mutations are the ones those tests are likely to catch.
        near = named | _names_in(source, busy)
        sites.sort(key=lambda s: s.entity.rsplit(".", 1)[-1] not in near)
        for site in sites:
            if tries >= MINT_TRIES:
                break
            mutated = apply_site(source, site)
            if mutated == source or not compiles(mutated, rel):
                continue
            tries += 1
            patch = make_patch(rel, source, mutated)
            run = run_suite(backend, ctx.environment, ctx.snapshot, kind=RunKind.BUG,
                            request=RunRequest(patch=patch, select=selected))
            if run.verdict is not Verdict.FAIL:
                continue
            caught = frozenset(r.test_id for r in run.results if r.status in _FAILING)
            if caught & wanted:
                found = Canary(f"minted:{rel}:{site.entity}:{site.operator}", patch, caught)
                break
        if found is not None or tries >= MINT_TRIES:
            break
    _MINTED[task.instance_id] = found
    return found


def _bug_files(ctx) -> list[tuple[str, str, set[str]]]:
    """(path, clean source, functions the bug changes) for each source file of the bug."""
    root = Path(ctx.snapshot.path)
    out = []
    for diff in parse_patch(ctx.task.patch):
        rel = diff.path
        path = root / rel
        if is_test_path(rel) or not rel.endswith(".py") or not path.is_file():
            continue
        source = path.read_text(encoding="utf-8", errors="replace")
        lines = touched_old_lines(diff)
        try:
            ents = entities(source)
        except SyntaxError:
            continue
        busy = {name for name, e in ents.items() if not e.is_class
                and any(a <= n <= b for a, b in e.body_lines for n in lines)}
        out.append((rel, source, busy))
    return out


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _names_in_tests(ctx) -> set[str]:
    """Identifiers in the files of the task's failing tests."""
    root = Path(ctx.snapshot.path)
    names: set[str] = set()
    for path in {t.split("::", 1)[0] for t in ctx.task.FAIL_TO_PASS}:
        try:
            names |= set(_WORD.findall((root / path).read_text(encoding="utf-8",
                                                               errors="replace")))
        except OSError:
            continue
    return names


def _names_in(source: str, busy: set[str]) -> set[str]:
    """Identifiers in the bodies of the functions the bug changes."""
    lines = source.split("\n")
    ents = entities(source)
    out: set[str] = set()
    for name in busy:
        for a, b in ents[name].body_lines:
            out |= set(_WORD.findall("\n".join(lines[a - 1 : b])))
    return out
