"""What a solution may change before it is scored: every loophole's file diff is dropped and
flagged, ordinary source edits are kept byte for byte. Pure: patch text in, patch text out."""

from __future__ import annotations

import pytest

from synth.records import SolutionFlag
from synth.verifiers.sanitize import combine, sanitize, split_blocks

SRC = """\
diff --git a/pkg/core.py b/pkg/core.py
index 1111111..2222222 100644
--- a/pkg/core.py
+++ b/pkg/core.py
@@ -1,3 +1,3 @@
 def f(x):
-    return x - 1
+    return x + 1
 # end
"""


def file_diff(path: str, *, new: bool = False, body: str = "+x = 1\n") -> str:
    if new:
        return (f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..3333333\n"
                f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n{body}")
    return (f"diff --git a/{path} b/{path}\nindex 1111111..2222222 100644\n--- a/{path}\n"
            f"+++ b/{path}\n@@ -1 +1,2 @@\n line\n{body}")


TOP = frozenset({"pkg", "tests", "pyproject.toml", "README.md"})


def clean(patch: str, **kw):
    return sanitize(patch, test_paths=("tests",), top_level=TOP, **kw)


def test_a_source_only_fix_is_kept_byte_for_byte() -> None:
    kept = clean(SRC)
    assert kept.patch == SRC and kept.flags == () and kept.dropped == ()


@pytest.mark.parametrize(
    ("path", "new", "flag"),
    [
        ("tests/test_core.py", False, SolutionFlag.EDITS_TESTS),
        ("tests/helpers.py", True, SolutionFlag.EDITS_TESTS),
        ("pkg/test_inline.py", True, SolutionFlag.EDITS_TESTS),
        ("conftest.py", True, SolutionFlag.TEST_HOOK),
        ("pkg/conftest.py", True, SolutionFlag.TEST_HOOK),
        ("pytest_evil.py", True, SolutionFlag.TEST_HOOK),
        ("sitecustomize.py", True, SolutionFlag.TEST_HOOK),
        ("pkg/usercustomize.py", True, SolutionFlag.TEST_HOOK),
        ("pkg/evil.pth", True, SolutionFlag.TEST_HOOK),
        ("pytest.ini", True, SolutionFlag.TEST_CONFIG),
        ("pyproject.toml", False, SolutionFlag.TEST_CONFIG),
        ("setup.cfg", True, SolutionFlag.TEST_CONFIG),
        ("tox.ini", True, SolutionFlag.TEST_CONFIG),
        ("json.py", True, SolutionFlag.SHADOWS_MODULE),
        ("_pytest/__init__.py", True, SolutionFlag.SHADOWS_MODULE),
        (".git/config", False, SolutionFlag.GIT_METADATA),
    ],
)
def test_each_loophole_file_is_dropped_and_flagged(path: str, new: bool,
                                                    flag: SolutionFlag) -> None:
    kept = clean(SRC + file_diff(path, new=new))
    assert kept.patch == SRC, "the source fix stays, the loophole goes"
    assert kept.flags == (flag,) and kept.dropped == (path,)


def test_deleting_a_test_file_is_dropped() -> None:
    delete = ("diff --git a/tests/test_core.py b/tests/test_core.py\ndeleted file mode 100644\n"
              "index 1111111..0000000\n--- a/tests/test_core.py\n+++ /dev/null\n"
              "@@ -1,2 +0,0 @@\n-def test_f():\n-    assert f(1) == 2\n")
    kept = clean(delete + SRC)
    assert kept.patch == SRC and kept.flags == (SolutionFlag.EDITS_TESTS,)


def test_renaming_a_test_away_or_a_module_into_the_tests_is_dropped() -> None:
    away = ("diff --git a/tests/test_core.py b/pkg/moved.py\nsimilarity index 100%\n"
            "rename from tests/test_core.py\nrename to pkg/moved.py\n")
    into = ("diff --git a/pkg/core.py b/tests/conftest.py\nsimilarity index 100%\n"
            "rename from pkg/core.py\nrename to tests/conftest.py\n")
    for patch in (away, into):
        kept = clean(patch)
        assert kept.patch == "" and kept.flags


def test_a_new_module_inside_an_existing_package_is_ordinary_code() -> None:
    kept = clean(file_diff("pkg/helpers.py", new=True))
    assert kept.flags == () and "pkg/helpers.py" in kept.patch


def test_a_header_hidden_in_a_hunk_body_does_not_split_the_file_diff() -> None:
    # The removed line reads like a header; hunk counts say it is content of pkg/core.py.
    sneaky = ("diff --git a/pkg/core.py b/pkg/core.py\n--- a/pkg/core.py\n+++ b/pkg/core.py\n"
              "@@ -1,2 +1,1 @@\n--- a/x\n-+++ b/y\n+z\n")
    blocks = split_blocks(sneaky)
    assert len(blocks) == 1 and blocks[0].paths == ("pkg/core.py",)


def test_a_header_after_a_hunk_starts_a_new_file_diff_even_without_diff_git() -> None:
    plain = ("--- a/pkg/core.py\n+++ b/pkg/core.py\n@@ -1 +1 @@\n-a\n+b\n"
             "--- a/tests/test_core.py\n+++ b/tests/test_core.py\n@@ -1 +1 @@\n-c\n+d\n")
    kept = clean(plain)
    assert "tests/test_core.py" not in kept.patch and "pkg/core.py" in kept.patch
    assert kept.flags == (SolutionFlag.EDITS_TESTS,)


def test_the_empty_patch_stays_empty() -> None:
    assert clean("") == clean("   \n") == clean("no diff here\n")
    assert clean("").patch == "" and clean("").flags == ()


def test_combine_puts_the_solution_after_the_bug() -> None:
    assert combine("bug\n", "", "fix") == "bug\nfix\n"


def test_without_the_top_level_listing_new_packages_are_kept_but_new_modules_are_not() -> None:
    """A worker without the snapshot on disk must not drop every new file of a fix."""
    pkg = sanitize(file_diff("pkg/helpers.py", new=True))
    mod = sanitize(file_diff("json.py", new=True))
    assert pkg.flags == () and mod.flags == (SolutionFlag.SHADOWS_MODULE,)


@pytest.mark.parametrize("line", [
    "env = open('/proc/self/environ').read()",
    "import synth_report",
    "nonce = os.environ.get('SYNTH_NONCE')",
    "plugin = sys.modules['synth_report']",
])
def test_code_that_reaches_for_the_harness_secrets_is_flagged(line: str) -> None:
    """The forgery this guards against was real: source code read the nonce and report path
    from /proc/self/environ, wrote an all-passed report and exited 0 — scored resolved."""
    kept = clean(SRC + file_diff("pkg/core2.py", body=f"+{line}\n"))
    assert kept.flags == (SolutionFlag.HARNESS_PROBE,)


def test_removed_lines_and_ordinary_code_do_not_probe() -> None:
    removed = SRC.replace("-    return x - 1", "-    return '/proc' and x - 1")
    assert clean(removed).flags == ()
