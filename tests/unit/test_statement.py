"""The problem statement reads like an issue and never gives the bug away."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from synth import records
from synth.mutate import generate_candidates, make_patch
from synth.statement import changed_lines, render_statement, scrub_message

BEFORE = "def total(price, quantity):\n    return price * quantity\n"
AFTER = "def total(price, quantity):\n    return price // quantity\n"
PATCH = make_patch("pkg/pricing.py", BEFORE, AFTER)
LINE_REF = re.compile(r"\.pyx?\W{0,2}:\d|\bline\s+\d", re.IGNORECASE)


def _failed(test_id: str, message: str = "") -> records.TestResult:
    # Imported via the module: pytest would try to collect a bare `TestResult` as a test class.
    return records.TestResult(test_id=test_id, status=records.TestStatus.FAILED, message=message)


def test_statement_names_the_repo_tests_and_messages() -> None:
    text = render_statement(
        "pricing",
        [_failed("tests/test_pricing.py::test_total", "AssertionError: assert 0 == 6")],
        PATCH,
    )
    assert "`pricing`" in text
    assert "`tests/test_pricing.py::test_total` fails with:" in text
    assert "AssertionError: assert 0 == 6" in text
    assert "The following test fails:" in text


def test_message_lines_quoting_a_changed_line_are_scrubbed() -> None:
    failing = [
        _failed("tests/test_pricing.py::test_total", "TypeError: boom\n  return price // quantity"),
        _failed("tests/test_pricing.py::test_zero", "E   return price * quantity"),
    ]
    text = render_statement("pricing", failing, PATCH)
    assert "TypeError: boom" in text
    assert "price // quantity" not in text
    assert "price * quantity" not in text
    # A message that was all leak leaves the test listed, without a message.
    assert "- `tests/test_pricing.py::test_zero`\n" in text


def test_file_and_line_references_are_removed() -> None:
    messages = [
        "pkg/pricing.py:2: AssertionError",
        'File "pkg/pricing.py", line 2, in total',
        "SyntaxError: invalid syntax (pricing.py, line 2)",
        "ValueError: bad value at line 12 of input",
        "tests/test_pricing.py:41:7: assert failed",
    ]
    failing = [_failed(f"tests/test_pricing.py::test_{i}", msg) for i, msg in enumerate(messages)]
    text = render_statement("pricing", failing, PATCH)
    assert not LINE_REF.search(text), text
    assert "pkg/pricing.py" not in text  # a location is dropped whole, file name included
    assert "AssertionError" in text and "invalid syntax (pricing.py)" in text


def test_statement_never_contains_the_patch_or_a_changed_line() -> None:
    corpus = (
        "def sign(x, limit):\n"
        "    if x >= limit and x != 0:\n"
        "        result = min(x, 1)\n"
        "    else:\n"
        "        result = -1 + x\n"
        "    return result\n"
    )
    candidates = generate_candidates("s", {"pkg/sign.py": corpus}, max_candidates=30, seed=0)
    assert len(candidates) >= 10
    for candidate in candidates:
        leaks = changed_lines(candidate.patch)
        failing = [
            _failed(f"tests/test_sign.py::test_{i}", f"AssertionError: {line}")
            for i, line in enumerate(sorted(leaks))
        ]
        failing.append(_failed("tests/test_sign.py::test_raw", candidate.patch))
        text = render_statement("sign", failing, candidate.patch, max_tests=50)
        assert candidate.patch not in text
        assert "diff --git" not in text
        assert not any(line in text for line in leaks), candidate.operator
        assert not LINE_REF.search(text)


def test_statement_lists_at_most_max_tests() -> None:
    failing = [_failed(f"tests/test_pricing.py::test_{i}", "AssertionError") for i in range(8)]
    text = render_statement("pricing", failing, PATCH, max_tests=3)
    assert text.count("fails with:") == 3
    assert "(3 of 8 shown)" in text and "...and 5 more." in text


def test_duplicate_test_ids_are_listed_once() -> None:
    failing = [_failed("tests/test_pricing.py::test_total", "AssertionError")] * 2
    text = render_statement("pricing", failing, PATCH)
    assert text.count("test_total") == 1


def test_statement_needs_a_failing_test() -> None:
    with pytest.raises(ValueError, match="at least one failing test"):
        render_statement("pricing", [], PATCH)


def test_changed_lines_skip_headers_context_and_short_lines() -> None:
    patch = make_patch(
        "m.py",
        "def f(x):\n    y = x\n    x\n    return y\n",
        "def f(x):\n    y = x\n    z\n    return y\n",
    )
    assert changed_lines(patch) == frozenset()  # `x` and `z` are too short to identify anything
    assert changed_lines(PATCH) == {"return price * quantity", "return price // quantity"}
    crlf = make_patch("m.py", BEFORE.replace("\n", "\r\n"), AFTER.replace("\n", "\r\n"))
    assert changed_lines(crlf) == changed_lines(PATCH)


def test_scrub_message_keeps_innocent_text_and_caps_length() -> None:
    leaks = frozenset({"return price // quantity"})
    assert scrub_message("AssertionError: assert 0 == 6", leaks) == "AssertionError: assert 0 == 6"
    assert len(scrub_message("x" * 5000, leaks)) <= 400
    assert "```" not in scrub_message("a ``` fence", leaks)


def test_template_ships_as_package_data() -> None:
    assert files("synth").joinpath("templates", "statement.md.j2").is_file()
