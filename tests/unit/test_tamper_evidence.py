"""Tamper evidence that needs no run: git's own reading of a patch against the sanitizer's, what a
source fix may not contain, changed equality, and the witness stream's verdict. Each check is
shown to matter: the patch that gets past the old rule is named in the test."""

from __future__ import annotations

import json

import pytest

from synth.records import SolutionFlag, TestResult, TestStatus, Verdict
from synth.verifiers import git_view
from synth.verifiers.report import against_witness, read_report, witnessed
from synth.verifiers.sanitize import flag_for, sanitize
from synth.verifiers.solution import weakened_comparisons

TOP = frozenset({"pkg", "tests", "pyproject.toml"})


def rule(path: str, creates: bool):
    return flag_for(path, creates=creates, test_paths=("tests",), top_level=TOP)


def evidence(patch: str) -> list[str]:
    return git_view.evidence(git_view.read(patch), rule)


# C-quoted names with octal escapes: git reads pkg/conftest.py and tests/helpers.py, the
# sanitizer a file named "\143onftest.py" and a folder named "\164ests".
OCTAL_CONFTEST = ('diff --git "a/pkg/\\143onftest.py" "b/pkg/\\143onftest.py"\n'
                  'new file mode 100644\n--- /dev/null\n+++ "b/pkg/\\143onftest.py"\n'
                  '@@ -0,0 +1 @@\n+x = 1\n')
OCTAL_TESTS = ('diff --git "a/\\164ests/helpers.py" "b/\\164ests/helpers.py"\n'
               '--- "a/\\164ests/helpers.py"\n+++ "b/\\164ests/helpers.py"\n'
               "@@ -1 +1 @@\n-def check(x): assert x == 2\n+def check(x): pass\n")


@pytest.mark.parametrize("patch", [OCTAL_CONFTEST, OCTAL_TESTS],
                         ids=["octal-conftest", "octal-tests"])
def test_a_path_git_reads_otherwise_than_the_sanitizer_is_evidence(patch: str) -> None:
    kept = sanitize(patch, test_paths=("tests",), top_level=TOP)
    assert kept.patch.strip(), "the sanitizer alone lets it through: the hole this closes"
    found = evidence(kept.patch)
    assert found and "sanitizer read" in found[0]


def test_git_reads_renames_with_both_names_and_a_shared_prefix() -> None:
    view = git_view.parse("0\t0\tpkg/new.py\x000\t0\tpkg/t2.py\x00"
                          " rename pkg/{old.py => new.py} (100%)\n"
                          " rename tests/t.py => pkg/t2.py (100%)\n")
    assert set(view.paths) == {"pkg/new.py", "pkg/old.py", "pkg/t2.py", "tests/t.py"}
    assert view.created == {"pkg/new.py", "pkg/t2.py"}
    assert any("tests/t.py" in e for e in git_view.evidence(view, rule))


def test_symlinks_binary_diffs_and_mode_changes_are_evidence_when_they_get_through() -> None:
    symlink = ("diff --git a/pkg/link b/pkg/link\nnew file mode 120000\n--- /dev/null\n"
               "+++ b/pkg/link\n@@ -0,0 +1 @@\n+/testbed/pkg\n\\ No newline at end of file\n")
    mode = "diff --git a/pkg/core.py b/pkg/core.py\nold mode 100644\nnew mode 100755\n"
    assert any("file mode" in e for e in evidence(symlink))
    assert any("file mode" in e for e in evidence(mode))
    # ... and the sanitizer drops both on its own, as not source.
    for patch in (symlink, mode):
        kept = sanitize(patch, test_paths=("tests",), top_level=TOP)
        assert kept.patch == "" and kept.flags == (SolutionFlag.NOT_SOURCE,)


def test_an_honest_source_fix_gives_no_evidence() -> None:
    fix = ("diff --git a/pkg/core.py b/pkg/core.py\n--- a/pkg/core.py\n+++ b/pkg/core.py\n"
           "@@ -1 +1 @@\n-    return x - 1\n+    return x + 1\n"
           "diff --git a/pkg/helpers.py b/pkg/helpers.py\nnew file mode 100644\n--- /dev/null\n"
           "+++ b/pkg/helpers.py\n@@ -0,0 +1 @@\n+y = 2\n")
    assert evidence(fix) == []


@pytest.mark.parametrize(("path", "flag"), [
    ("sitecustomize.pyc", SolutionFlag.TEST_HOOK),  # the sourceless startup hook
    ("pkg/__pycache__/core.cpython-311.pyc", SolutionFlag.NOT_SOURCE),  # stale bytecode
    ("pkg/_speedups.so", SolutionFlag.NOT_SOURCE),
    ("synth_report", SolutionFlag.SHADOWS_MODULE),  # any new root entry, whatever its suffix
    ("runner", SolutionFlag.SHADOWS_MODULE),
])
def test_what_a_source_fix_never_needs_is_flagged(path: str, flag: SolutionFlag) -> None:
    assert rule(path, True) is flag


def test_a_changed_equality_is_evidence_unless_it_restores_what_the_bug_removed() -> None:
    attack = "+    def __eq__(self, other):\n+        return True\n+Money.__ne__ = lambda a, b: 0\n"
    assert len(weakened_comparisons(attack, bug="")) == 2
    restore = "+    def __eq__(self, other):\n"
    assert weakened_comparisons(restore, bug="-    def __eq__(self, other):\n") == []
    assert weakened_comparisons("+    if a == b:\n+    x.eq = 1\n", bug="") == []


def _report(results: list[tuple[str, str]], nonce: str = "n") -> str:
    failing = any(s == "failed" for _, s in results)
    return json.dumps({"format": 2, "nonce": nonce, "exitstatus": 1 if failing else 0,
                       "collected": len(results), "deselected": 0, "executed": len(results),
                       "results": [{"test_id": t, "status": s} for t, s in results]})


def _witness(*lines: dict) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_a_report_that_agrees_with_its_witness_stands() -> None:
    seen = _witness({"kind": "result", "test": "t::a", "status": "passed"},
                    {"kind": "result", "test": "t::b", "status": "failed"},
                    {"kind": "end", "tests": 2})
    read = against_witness(read_report(_report([("t::a", "passed"), ("t::b", "failed")]),
                                       exit_code=1, nonce="n"), seen)
    assert read.verdict is Verdict.FAIL


def test_a_report_rewritten_after_the_tests_ran_is_tampered() -> None:
    """Without the witness, this authentic-looking report (right nonce, counts, exit code)
    would be a PASS: the outcome was rewritten after pytest reported it."""
    report = _report([("t::a", "passed"), ("t::b", "passed")])
    assert read_report(report, exit_code=0, nonce="n").verdict is Verdict.PASS
    seen = _witness({"kind": "result", "test": "t::a", "status": "passed"},
                    {"kind": "result", "test": "t::b", "status": "failed"},
                    {"kind": "end", "tests": 2})
    read = against_witness(read_report(report, exit_code=0, nonce="n"), seen)
    assert read.verdict is Verdict.TAMPERED and "t::b" in read.reason


def test_a_test_told_two_ways_an_audit_finding_or_a_silenced_witness_is_tampered() -> None:
    report = _report([("t::a", "passed")])
    forged_first = _witness({"kind": "result", "test": "t::a", "status": "passed"},
                            {"kind": "result", "test": "t::a", "status": "failed"},
                            {"kind": "end", "tests": 1})
    audited = _witness({"kind": "audit", "event": "object.__setattr__",
                        "what": "TestReport.from_item_and_call", "where": "/work/pkg/m.py:3"},
                       {"kind": "result", "test": "t::a", "status": "passed"},
                       {"kind": "end", "tests": 1})
    silenced = _witness({"kind": "result", "test": "t::a", "status": "passed"})
    for seen in (forged_first, audited, silenced):
        read = against_witness(read_report(report, exit_code=0, nonce="n"), seen)
        assert read.verdict is Verdict.TAMPERED, seen
    assert "TestReport.from_item_and_call" in against_witness(read_report(
        report, exit_code=0, nonce="n"), audited).reason
    assert witnessed("not json\n{}\n").outcomes == {}


def test_runs_without_a_witness_are_read_as_before() -> None:
    read = against_witness(read_report(_report([("t::a", "passed")]), exit_code=0, nonce="n"),
                           None)
    assert read.verdict is Verdict.PASS
    assert read.results == (TestResult(test_id="t::a", status=TestStatus.PASSED),)


def test_canaries_next_to_the_fix_are_tried_last() -> None:
    from synth.verifiers.canary import Canary
    from synth.verifiers.solution import clear_of

    def diff(path: str, line: int) -> str:
        return (f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
                f"@@ -{line},1 +{line},1 @@\n-x\n+y\n")

    near = Canary("near", diff("pkg/core.py", 12), frozenset({"t::a"}))
    far = Canary("far", diff("pkg/core.py", 80), frozenset({"t::a"}))
    other = Canary("other", diff("pkg/util.py", 12), frozenset({"t::b"}))
    fix = diff("pkg/core.py", 10)
    assert [b.name for b in clear_of([near, far, other], fix)] == ["far", "other", "near"]
    assert [b.name for b in clear_of([near, far], "")] == ["near", "far"]
