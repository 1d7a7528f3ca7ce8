"""The lock pins every wheel of a wheelhouse by name, version and content hash, and a wheelhouse
whose files no longer match its lock is refused rather than installed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from synth.envs.pip_failures import Culprit, FailureKind, pip_culprits
from synth.envs.wheelhouse import (
    HOST_PYTHON,
    LOCK_NAME,
    WheelhouseError,
    fallback_step,
    lock_of,
    pip_command,
    read_lock,
    render_lock,
    resolve_wheelhouse,
)
from synth.records import Requirement as LockEntry

WHEELS = {
    "zipp-3.19.2-py3-none-any.whl": b"zipp bytes",
    "demo_pkg-1.2.0-py3-none-any.whl": b"demo bytes",
    "Attrs-23.2.0-py3-none-any.whl": b"attrs bytes",
}


def _wheelhouse(root: Path, wheels: dict[str, bytes] = WHEELS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in wheels.items():
        (root / name).write_bytes(data)
    return root


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_lock_records_name_version_filename_and_content_hash(tmp_path: Path) -> None:
    lock = lock_of(_wheelhouse(tmp_path))
    demo = next(r for r in lock if r.filename == "demo_pkg-1.2.0-py3-none-any.whl")
    assert demo.name == "demo-pkg"  # the normalised project name, as pip compares it
    assert demo.version == "1.2.0"
    assert demo.sha256 == _sha(b"demo bytes")


def test_lock_is_sorted_by_name(tmp_path: Path) -> None:
    lock = lock_of(_wheelhouse(tmp_path))
    assert [r.name for r in lock] == ["attrs", "demo-pkg", "zipp"]


def test_lock_ignores_files_that_are_not_wheels(tmp_path: Path) -> None:
    root = _wheelhouse(tmp_path)
    (root / LOCK_NAME).write_text("stale\n")
    (root / "notes.txt").write_text("not a wheel\n")
    assert len(lock_of(root)) == len(WHEELS)


def test_an_empty_wheelhouse_has_an_empty_lock(tmp_path: Path) -> None:
    assert lock_of(tmp_path) == ()
    assert render_lock(()) == ""


def test_render_pins_each_wheel_by_version_and_hash(tmp_path: Path) -> None:
    text = render_lock(lock_of(_wheelhouse(tmp_path)))
    assert text.splitlines() == [
        f"attrs==23.2.0 --hash=sha256:{_sha(b'attrs bytes')}",
        f"demo-pkg==1.2.0 --hash=sha256:{_sha(b'demo bytes')}",
        f"zipp==3.19.2 --hash=sha256:{_sha(b'zipp bytes')}",
    ]
    assert text.endswith("\n")


def test_the_same_wheels_give_the_same_lock_wherever_they_lie(tmp_path: Path) -> None:
    first = lock_of(_wheelhouse(tmp_path / "a"))
    second = lock_of(_wheelhouse(tmp_path / "b", dict(reversed(list(WHEELS.items())))))
    assert first == second
    assert render_lock(first) == render_lock(second)


def test_read_lock_returns_the_lock_of_an_untouched_wheelhouse(tmp_path: Path) -> None:
    root = _wheelhouse(tmp_path)
    (root / LOCK_NAME).write_text(render_lock(lock_of(root)))
    assert read_lock(root) == lock_of(root)


@pytest.mark.parametrize("change", ["tamper", "add", "remove"])
def test_read_lock_refuses_a_wheelhouse_that_changed_since_it_was_locked(
    tmp_path: Path, change: str,
) -> None:
    root = _wheelhouse(tmp_path)
    (root / LOCK_NAME).write_text(render_lock(lock_of(root)))
    if change == "tamper":
        (root / "demo_pkg-1.2.0-py3-none-any.whl").write_bytes(b"demo bytes, patched")
    elif change == "add":
        (root / "extra-0.1-py3-none-any.whl").write_bytes(b"extra")
    else:
        (root / "zipp-3.19.2-py3-none-any.whl").unlink()
    with pytest.raises(WheelhouseError, match="delete the folder to rebuild"):
        read_lock(root)


# --- Resolution fallback: pip's output read on captured strings -------------------------------

# Captured from pip 26.3 on this host (index locations elided).
NO_MATCH = """\
ERROR: Could not find a version that satisfies the requirement idna==0.0.1 (from versions: 0.2, \
3.19, 3.20)
ERROR: No matching distribution found for idna==0.0.1
"""
CONFLICT = """\
  Downloading packaging-26.4-py3-none-any.whl (140 kB)
ERROR: Cannot install -r /tmp/x/requirements.in (line 1) and pluggy==0.13.1 because these \
package versions have conflicting dependencies.

The conflict is caused by:
    The user requested pluggy==0.13.1
    pytest 8.0.0 depends on pluggy<2.0 and >=1.3.0

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-\
resolution/#dealing-with-dependency-conflicts
"""
CONFLICT_QUIET = """\
ERROR: Cannot install -r /tmp/x/requirements.in (line 1) and pluggy==0.13.1 because these \
package versions have conflicting dependencies.
ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/
"""
# Written from the messages in pip's source (exceptions.py, wheel_builder.py, build/wheel.py).
BUILD_FAILURES = {
    "prepare": "ERROR: Failed to build 'numpy' when getting requirements to build wheel\n",
    "legacy": "  ERROR: Failed building wheel for numpy\nFailed to build numpy\nERROR: Could "
              "not build wheels for numpy, which is required to install pyproject.toml-based "
              "projects\n",
    "diagnostic": "ERROR: Failed to build installable wheels for some pyproject.toml based "
                  "projects (numpy)\n",
    "rich": "error: failed-wheel-build-for-install\n\n× Failed to build installable wheels for "
            "some pyproject.toml based projects\n╰─> numpy\n",
    "metadata": "error: metadata-generation-failed\n\n× Encountered error while generating "
                "package metadata.\n╰─> numpy\n\nnote: This is an issue with the package "
                "mentioned above, not pip.\n",
}
REQS = ["pytest==8.0.0", "pluggy==0.13.1", "numpy==1.19.5", "idna==0.0.1"]


def test_no_matching_distribution_blames_the_requirement() -> None:
    assert pip_culprits(NO_MATCH, REQS) == [Culprit("idna==0.0.1", FailureKind.NO_MATCH)]


@pytest.mark.parametrize("output", [CONFLICT, CONFLICT_QUIET])
def test_a_conflict_blames_the_requested_entries_including_line_references(output: str) -> None:
    """pip names our entries as `-r file (line N)`: line N of the file we wrote is entry N-1."""
    culprits = pip_culprits(output, REQS)
    assert [c.requirement for c in culprits] == ["pytest==8.0.0", "pluggy==0.13.1"]
    assert {c.kind for c in culprits} == {FailureKind.CONFLICT}


@pytest.mark.parametrize("style", sorted(BUILD_FAILURES))
def test_a_failed_sdist_build_blames_the_package(style: str) -> None:
    assert pip_culprits(BUILD_FAILURES[style], REQS) == [
        Culprit("numpy==1.19.5", FailureKind.BUILD)]


def test_a_failing_dependency_is_traced_to_the_requirement_that_pulled_it_in() -> None:
    output = ("Collecting legacy-dep<2 (from tool==1.0->-r /tmp/x/requirements.in (line 2))\n"
              "  Downloading legacy-dep-1.0.tar.gz (10 kB)\n"
              "ERROR: Failed to build 'legacy-dep' when getting requirements to build wheel\n")
    assert pip_culprits(output, ["pytest", "tool==1.0"]) == [
        Culprit("tool==1.0", FailureKind.BUILD, via="legacy-dep")]


def test_output_that_blames_nothing_we_asked_for_gives_no_culprits() -> None:
    assert pip_culprits("ERROR: Could not install packages due to an OSError\n", REQS) == []


# --- Resolution fallback: what changes, and when it stops -------------------------------------

def test_fallback_relaxes_a_pin_first_and_never_touches_kept_names() -> None:
    culprits = pip_culprits(CONFLICT, REQS)
    step = fallback_step(REQS, culprits, keep=("pytest",))
    assert step is not None
    reqs, notes = step
    assert reqs == ["pytest==8.0.0", "pluggy", "numpy==1.19.5", "idna==0.0.1"]
    assert notes == ["relaxed pluggy==0.13.1 to pluggy: it conflicts with another requirement"]


def test_fallback_drops_what_is_already_unpinned() -> None:
    reqs, notes = fallback_step(["pytest", "idna[x]"], [Culprit("idna[x]", FailureKind.BUILD)],
                                keep=("pytest",)) or ([], [])
    assert reqs == ["pytest"]
    assert notes == ["dropped idna[x]: its sdist failed to build"]


def test_fallback_gives_up_when_only_kept_names_are_blamed() -> None:
    assert fallback_step(["pytest==1.0"], [Culprit("pytest==1.0", FailureKind.NO_MATCH)],
                         keep=("pytest",)) is None


class FakePip:
    """A builder that fails, with pip's output, while any requirement in ``bad`` is asked for."""

    def __init__(self, bad: dict[str, str]) -> None:
        self.bad = bad
        self.calls: list[list[str]] = []

    def __call__(self, cache: Path, requirements: Sequence[str], python: str
                 ) -> tuple[Path, tuple[LockEntry, ...]]:
        self.calls.append(list(requirements))
        for req in requirements:
            if req in self.bad:
                raise WheelhouseError("pip failed", self.bad[req])
        return cache / "final", ()


def test_resolve_retries_until_pip_succeeds_and_records_each_change(tmp_path: Path) -> None:
    pip = FakePip({
        "idna==0.0.1": NO_MATCH,
        "idna": "ERROR: No matching distribution found for idna\n",
        "numpy==1.19.5": BUILD_FAILURES["prepare"],
    })
    house = resolve_wheelhouse(tmp_path, ["pytest", "numpy==1.19.5", "idna==0.0.1"], "3.11",
                               build=pip)
    assert house.requirements == ("pytest", "numpy")
    assert house.adjustments == (
        "relaxed numpy==1.19.5 to numpy: its sdist failed to build",
        "relaxed idna==0.0.1 to idna: no release matches it for this Python",
        "dropped idna: no release matches it for this Python",
    )
    # A second call goes straight to the outcome instead of failing its way there again.
    pip.calls.clear()
    again = resolve_wheelhouse(tmp_path, ["pytest", "numpy==1.19.5", "idna==0.0.1"], "3.11",
                               build=pip)
    assert again == house and pip.calls == [["pytest", "numpy"]]


def test_only_unresolvable_requirements_raise_a_clear_error(tmp_path: Path) -> None:
    pip = FakePip({"ghost==1.0": "No matching distribution found for ghost==1.0\n",
                   "ghost": "No matching distribution found for ghost\n"})
    with pytest.raises(WheelhouseError, match="none of the requirements could be resolved"):
        resolve_wheelhouse(tmp_path, ["ghost==1.0"], "3.11", build=pip)


def test_an_unexplained_failure_is_raised_with_pips_output(tmp_path: Path) -> None:
    pip = FakePip({"pytest": "ERROR: Could not install packages due to an OSError\n"})
    with pytest.raises(WheelhouseError, match="Nothing left to relax or drop"):
        resolve_wheelhouse(tmp_path, ["pytest"], "3.11", build=pip)


def test_the_number_of_attempts_is_bounded(tmp_path: Path) -> None:
    reqs = [f"p{i}==1.0" for i in range(20)]
    bad = [*reqs, *(r.split("==")[0] for r in reqs)]
    pip = FakePip({r: f"No matching distribution found for {r}\n" for r in bad})
    with pytest.raises(WheelhouseError, match="after 3 attempts"):
        resolve_wheelhouse(tmp_path, ["pytest", *reqs], "3.11", attempts=3,
                           build=lambda c, r, p: pip(c, r[:2], p))
    assert len(pip.calls) == 3


def test_another_python_takes_published_wheels_for_that_python_only(tmp_path: Path) -> None:
    """The host cannot build for 3.13 (it has no such interpreter): pip download, binary only,
    tagged for CPython 3.13 on x86_64 Linux."""
    argv = [str(a) for a in pip_command("3.13", tmp_path / "w", tmp_path / "r.in")]
    assert argv[3] == "download" and "--only-binary=:all:" in argv
    assert argv[argv.index("--python-version") + 1] == "3.13"
    assert "--abi=cp313" in argv and "--platform=manylinux2014_x86_64" in argv
    host = [str(a) for a in pip_command(HOST_PYTHON, tmp_path / "w", tmp_path / "r.in")]
    assert host[3] == "wheel" and "-q" not in host


@pytest.mark.network
def test_a_real_pin_without_a_release_is_relaxed_through_the_index(tmp_path: Path) -> None:
    house = resolve_wheelhouse(tmp_path, ["iniconfig", "idna==0.0.1"], HOST_PYTHON,
                               keep=("iniconfig",))
    assert house.requirements == ("iniconfig", "idna")
    assert {r.name for r in house.lock} == {"iniconfig", "idna"}
    assert house.adjustments[0].startswith("relaxed idna==0.0.1 to idna")


@pytest.mark.network
def test_a_real_313_wheelhouse_holds_cp313_or_pure_wheels(tmp_path: Path) -> None:
    house = resolve_wheelhouse(tmp_path, ["markupsafe==3.0.2", "iniconfig"], "3.13",
                               keep=("iniconfig",))
    files = {r.filename for r in house.lock}
    assert any("cp313" in f for f in files if f.lower().startswith("markupsafe")), files
