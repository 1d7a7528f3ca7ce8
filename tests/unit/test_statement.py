"""The problem statement reads like an issue and never gives the bug away."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest

from synth.mutate import generate_candidates, make_patch
from synth.records import TestStatus
from synth.statement import (
    STYLES,
    StatementInput,
    Style,
    changed_lines,
    choose_style,
    leaks,
    patch_line_numbers,
    render_statement,
    reproduction,
    scrub_message,
    write_statement,
)
from tests.factories import make_result

BEFORE = "def total(price, quantity):\n    return price * quantity\n"
AFTER = "def total(price, quantity):\n    return price // quantity\n"
PATCH = make_patch("pkg/pricing.py", BEFORE, AFTER)
FAILED = TestStatus.FAILED
LINE_REF = re.compile(r"\.pyx?\W{0,2}:\d|\bline\s+\d", re.IGNORECASE)


def test_statement_names_the_repo_tests_and_messages() -> None:
    text = render_statement(
        "pricing",
        [make_result("tests/test_pricing.py::test_total", FAILED,
                     message="AssertionError: assert 0 == 6")],
        PATCH,
    )
    assert "`pricing`" in text
    assert "`tests/test_pricing.py::test_total` fails with:" in text
    assert "AssertionError: assert 0 == 6" in text
    assert "The following test fails:" in text


def test_message_lines_quoting_a_changed_line_are_scrubbed() -> None:
    failing = [
        make_result("tests/test_pricing.py::test_total", FAILED,
                    message="TypeError: boom\n  return price // quantity"),
        make_result("tests/test_pricing.py::test_zero", FAILED,
                    message="E   return price * quantity"),
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
    failing = [make_result(f"tests/test_pricing.py::test_{i}", FAILED, message=msg)
               for i, msg in enumerate(messages)]
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
            make_result(f"tests/test_sign.py::test_{i}", FAILED, message=f"AssertionError: {line}")
            for i, line in enumerate(sorted(leaks))
        ]
        failing.append(make_result("tests/test_sign.py::test_raw", FAILED, message=candidate.patch))
        text = render_statement("sign", failing, candidate.patch, max_tests=50)
        assert candidate.patch not in text
        assert "diff --git" not in text
        assert not any(line in text for line in leaks), candidate.operator
        assert not LINE_REF.search(text)


def test_statement_lists_at_most_max_tests() -> None:
    failing = [make_result(f"tests/test_pricing.py::test_{i}", FAILED, message="AssertionError")
               for i in range(8)]
    text = render_statement("pricing", failing, PATCH, max_tests=3)
    assert text.count("fails with:") == 3
    assert "(3 of 8 shown)" in text and "...and 5 more." in text


def test_duplicate_test_ids_are_listed_once() -> None:
    failing = [
        make_result("tests/test_pricing.py::test_total", FAILED, message="AssertionError")] * 2
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


# --- styles ------------------------------------------------------------------------------------

FAILING = [
    make_result("tests/test_pricing.py::test_total", FAILED,
                message="AssertionError: assert 0 == 6"),
    make_result("tests/test_pricing.py::TestBulk::test_many[3]", FAILED,
                message="ZeroDivisionError: division by zero"),
]
TEST_FILE = (
    "from pricing import total\n\n"
    "def test_total():\n"
    "    assert total(2, 3) == 6\n\n"
    "class TestBulk:\n"
    "    @pytest.mark.parametrize('n', [3])\n"
    "    def test_many(self, n):\n"
    "        assert total(n, 0) == 0\n"
)


@pytest.mark.parametrize("style", STYLES)
def test_every_style_names_the_repo_and_first_test_and_leaks_nothing(style: Style) -> None:
    text = render_statement(
        "pricing",
        FAILING,
        PATCH,
        style=style,
        reproductions={FAILING[0].test_id: reproduction(TEST_FILE, FAILING[0].test_id)},
        hint="Totals come out wrong.",
        passed=40,
    )
    assert "`pricing`" in text
    assert "tests/test_pricing.py::test_total" in text
    assert "AssertionError: assert 0 == 6" in text
    assert leaks(text, PATCH) == []
    assert files("synth").joinpath("templates", f"statement_{style.value}.md.j2").is_file() or (
        style is Style.REPORT
    )


def test_story_carries_the_failing_tests_source_as_reproduction() -> None:
    code = reproduction(TEST_FILE, FAILING[0].test_id)
    text = render_statement(
        "pricing", FAILING, PATCH, style=Style.STORY, reproductions={FAILING[0].test_id: code}
    )
    assert "```python\ndef test_total():\n    assert total(2, 3) == 6\n```" in text


def test_ci_style_reads_like_a_pytest_summary() -> None:
    text = render_statement("pricing", FAILING, PATCH, style=Style.CI, passed=40)
    assert (
        "FAILED tests/test_pricing.py::test_total - AssertionError: assert 0 == 6\n"
        "FAILED tests/test_pricing.py::TestBulk::test_many[3] - ZeroDivisionError:"
    ) in text
    assert "2 failed, 40 passed" in text


def test_style_is_chosen_by_seed_and_key_and_all_styles_occur() -> None:
    assert choose_style(3, "cand-a") == choose_style(3, "cand-a")
    assert {choose_style(seed, "cand-a") for seed in range(40)} == set(STYLES)
    assert {choose_style(0, f"cand-{i}") for i in range(40)} == set(STYLES)


def test_reproduction_finds_functions_methods_and_parametrized_ids() -> None:
    assert reproduction(TEST_FILE, "tests/t.py::test_total").startswith("def test_total():")
    method = reproduction(TEST_FILE, "tests/t.py::TestBulk::test_many[3]")
    assert method.startswith("def test_many(self, n):\n    assert")  # dedented, no decorator
    assert reproduction(TEST_FILE, "tests/t.py::test_missing") == ""
    assert reproduction("def broken(:\n", "tests/t.py::test_total") == ""


def test_a_reproduction_quoting_the_changed_code_is_left_out() -> None:
    code = "def test_total():\n    return price // quantity\n"
    text = render_statement(
        "pricing", FAILING, PATCH, style=Style.STORY, reproductions={FAILING[0].test_id: code}
    )
    assert "price // quantity" not in text and "pytest tests/test_pricing.py::test_total" in text


def test_hint_is_scrubbed_of_code_locations_and_trailers() -> None:
    hint = (
        "Fix totals for bulk orders\n\n"
        "The total was computed with floor division in pricing.py:2.\n"
        "    return price * quantity\n"
        "Signed-off-by: Someone <someone@example.invalid>\n"
    )
    text = render_statement("pricing", FAILING, PATCH, style=Style.TERSE, hint=hint)
    assert "Fix totals for bulk orders" in text
    assert "pricing.py:2" not in text and "price * quantity" not in text
    assert "Signed-off-by" not in text


# --- the leak check ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "why"),
    [
        ("The code says `return price*quantity` which is fine.", "quotes a changed line"),
        ("It now does return   price // quantity.", "quotes a changed line"),
        ("Look at pricing.py:2 please.", "refers to changed line 2"),
        ("Something is off at line 2 of the module.", "refers to changed line 2"),
        ("See https://example.invalid/blob/main/pkg/pricing.py#L2", "refers to changed line 2"),
        ("diff --git a/pkg/pricing.py b/pkg/pricing.py", "quotes diff syntax"),
        ("the hunk\n@@ -1,2 +1,2 @@\n", "quotes diff syntax"),
    ],
)
def test_leak_check_rejects(statement: str, why: str) -> None:
    found = leaks(statement, PATCH)
    assert found and found[0].startswith(why), found


@pytest.mark.parametrize(
    "statement",
    [
        "Totals are wrong: `total(2, 3)` returns 0 instead of 6.",
        "It fails at line 14 of the test log.",  # not a line the patch changes
        "assert 0 == 2",  # a number is not a line reference
        "Price and quantity are multiplied incorrectly.",
    ],
)
def test_leak_check_lets_symptoms_through(statement: str) -> None:
    assert leaks(statement, PATCH) == []


def test_patch_line_numbers_count_both_sides_of_each_hunk() -> None:
    before = "a = 1\nb = 2\nc = 3\nd = 4\n"
    after = "a = 1\nB = 2\nc = 3\nd = 4\nE = 5\n"
    assert patch_line_numbers(make_patch("m.py", before, after)) == {2, 5}


class _Writer:
    def __init__(self, answer: str | Exception) -> None:
        self.answer = answer
        self.prompts: list[str] = []

    def write(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_write_statement_uses_a_clean_lm_answer() -> None:
    writer = _Writer("Totals are wrong: `total(2, 3)` gives 0.")
    item = StatementInput("pricing", FAILING, PATCH, hint="Totals are wrong")
    written = write_statement(item, style=Style.TERSE, writer=writer)
    assert (written.writer, written.text) == ("lm", "Totals are wrong: `total(2, 3)` gives 0.\n")
    prompt = writer.prompts[0]
    assert "pricing" in prompt and "AssertionError: assert 0 == 6" in prompt
    assert "price * quantity" not in prompt and "price // quantity" not in prompt


@pytest.mark.parametrize(
    "answer", ["The bug is `return price // quantity`.", RuntimeError("endpoint down"), "  "]
)
def test_write_statement_falls_back_to_the_template_when_the_lm_leaks_or_fails(
    answer: str | Exception,
) -> None:
    item = StatementInput("pricing", FAILING, PATCH)
    written = write_statement(item, style=Style.CI, writer=_Writer(answer))
    assert written.writer == "template" and written.style is Style.CI
    assert written.rejected and written.rejected[0].startswith("lm:")
    assert leaks(written.text, PATCH) == []


def test_write_statement_falls_back_when_the_hint_leaks() -> None:
    # A hint quoting the code with different spacing slips past the line scrubber (it compares
    # whole lines), but not past the leak check, which ignores whitespace.
    item = StatementInput("pricing", FAILING, PATCH, hint="It did return price*quantity before.")
    written = write_statement(item, style=Style.TERSE)
    assert written.style is Style.REPORT and "price*quantity" not in written.text
    assert written.rejected == ("terse: quotes a changed line: 'return price * quantity'",)


def test_a_reverted_changelog_entry_is_a_hint_not_a_leak() -> None:
    # A mirrored fix reverts its changelog entry too; quoting prose gives no code away.
    changelog = make_patch("CHANGES.md", "- Fix: totals of bulk orders are right again.\n", "")
    patch = changelog + PATCH
    assert changed_lines(patch) == changed_lines(PATCH)
    assert patch_line_numbers(patch) == patch_line_numbers(PATCH)
    text = render_statement(
        "pricing",
        FAILING,
        patch,
        style=Style.TERSE,
        hint="Fix: totals of bulk orders are right again.",
    )
    assert "totals of bulk orders are right again" in text and leaks(text, patch) == []


@pytest.mark.parametrize("style", STYLES)
def test_every_style_carries_the_hint(style: Style) -> None:
    hint = "Totals of bulk orders are wrong."
    assert hint in render_statement("pricing", FAILING, PATCH, style=style, hint=hint)
