"""A small repository with a history of real fixes, for the mirroring tests.

``build(path)`` makes the commits below with git; each fix changes source and adds the test that
caught it, as fixes do. Around them: commits mirroring must skip (docs only, a refactor without
tests, tests only, a binary file, one too large for the default limits).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

CALC_V1 = '''\
def window(items, size):
    """The last `size` items."""
    return items[len(items) - size + 1:]


def mean(values):
    return sum(values) / len(values)


def clamp(x, low, high):
    return max(low, min(x, high))
'''
CALC_V2 = CALC_V1.replace("len(items) - size + 1:", "len(items) - size:")  # fix 1
CALC_V3 = CALC_V2.replace(
    "    return sum(values) / len(values)\n",
    "    if not values:\n        return 0.0\n    return sum(values) / len(values)\n",
)  # fix 2
CALC_V4 = CALC_V3.replace("def clamp(x, low, high):", "def clamp(x, low, high):  # inclusive")

TESTS_V1 = """\
from calc import clamp, mean


def test_mean():
    assert mean([1, 2, 3]) == 2


def test_clamp():
    assert clamp(5, 0, 3) == 3
"""
TESTS_V2 = (
    TESTS_V1.replace("from calc import clamp, mean", "from calc import clamp, mean, window")
    + """

def test_window():
    assert window([1, 2, 3, 4], 2) == [3, 4]
"""
)
TESTS_V3 = (
    TESTS_V2
    + """

def test_mean_of_nothing():
    assert mean([]) == 0.0
"""
)
PYPROJECT = (
    '[project]\nname = "calc"\nversion = "0"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
)

# (message, files written) in order; the two fixes are what mirroring must find.
COMMITS: list[tuple[str, dict[str, str | bytes]]] = [
    (
        "Initial version",
        {"calc.py": CALC_V1, "tests/test_calc.py": TESTS_V1, "pyproject.toml": PYPROJECT},
    ),
    (
        "Fix window() returning one item too few\n\nThe slice started one past the window.",
        {"calc.py": CALC_V2, "tests/test_calc.py": TESTS_V2},
    ),
    ("Document the project", {"README.md": "# calc\n"}),
    (
        "Fix mean() of an empty list raising ZeroDivisionError",
        {"calc.py": CALC_V3, "tests/test_calc.py": TESTS_V3, "CHANGES.md": "- mean([]) is 0.0\n"},
    ),
    ("Comment clamp", {"calc.py": CALC_V4}),
    (
        "More clamp tests",
        {
            "tests/test_calc.py": TESTS_V3 + "\n\ndef test_clamp_low():\n"
            "    assert clamp(-1, 0, 3) == 0\n"
        },
    ),
    (
        "Add a logo and test it",
        {
            "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00binary",
            "calc.py": CALC_V4 + "\nLOGO = 'logo.png'\n",
            "tests/test_logo.py": "def test_logo():\n    pass\n",
        },
    ),
    (
        "Add a big table",
        {
            "table.py": "".join(f"ROW_{i} = {i}\n" for i in range(300)),
            "tests/test_table.py": "import table\n\n\ndef test_rows():\n"
            "    assert table.ROW_1 == 1\n",
        },
    ),
]
FIX_SUBJECTS = [
    "Fix mean() of an empty list raising ZeroDivisionError",
    "Fix window() returning one item too few",
]  # newest first, as mirroring lists them

_ENV = {
    "GIT_AUTHOR_NAME": "dev",
    "GIT_AUTHOR_EMAIL": "dev@example.invalid",
    "GIT_COMMITTER_NAME": "dev",
    "GIT_COMMITTER_EMAIL": "dev@example.invalid",
    "GIT_AUTHOR_DATE": "2001-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2001-01-01T00:00:00+0000",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/nonexistent",
}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env=_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout


def build(path: Path) -> Path:
    """Create the repository at ``path`` (a new directory) and return it."""
    path.mkdir(parents=True)
    _git(path, "init", "-q", "-b", "main")
    for message, files in COMMITS:
        for name, content in files.items():
            target = path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        _git(path, "add", "--all")
        _git(path, "commit", "-q", "--no-gpg-sign", "-m", message)
    return path
