"""Every mutation operator, one sample source each: exactly which mutations it makes there, that
each one compiles, keeps every other byte, and is a patch `git apply` takes both ways; plus the
cases each operator must leave alone."""

from __future__ import annotations

import difflib
import importlib
import shutil
import subprocess
from pathlib import Path

import pytest

from synth.mutate import OPERATORS, apply_site, find_sites, generate, make_patch
from synth.operators import REGISTRY, Scope

# operator -> (source, the changed lines of each of its mutations, in site order). Odd spacing
# and comments on purpose: libcst must keep them.
SAMPLES: dict[str, tuple[str, list[tuple[str, ...]]]] = {
    "compare_flip": (
        (
            "def clamp(value, low, high):\n"
            "    if value<low:  # tight on purpose\n"
            "        return low\n"
            "    return value if value != high else high\n"
        ),
        [
            (
                "-    if value<low:  # tight on purpose",
                "+    if value>=low:  # tight on purpose",
            ),
            (
                "-    return value if value != high else high",
                "+    return value if value == high else high",
            ),
        ],
    ),
    "arith_swap": (
        (
            "def total(prices, tax):\n"
            "    amount = sum(prices) * (1 + tax)\n"
            "    amount -= 1\n"
            "    return amount / 2 % 7 // 1 ** 2\n"
        ),
        [
            (
                "-    amount = sum(prices) * (1 + tax)",
                "+    amount = sum(prices) * (1 - tax)",
            ),
            (
                "-    amount = sum(prices) * (1 + tax)",
                "+    amount = sum(prices) // (1 + tax)",
            ),
            (
                "-    amount -= 1",
                "+    amount += 1",
            ),
            (
                "-    return amount / 2 % 7 // 1 ** 2",
                "+    return amount * 2 % 7 // 1 ** 2",
            ),
            (
                "-    return amount / 2 % 7 // 1 ** 2",
                "+    return amount / 2 // 7 // 1 ** 2",
            ),
            (
                "-    return amount / 2 % 7 // 1 ** 2",
                "+    return amount / 2 % 7 // 1 * 2",
            ),
            (
                "-    return amount / 2 % 7 // 1 ** 2",
                "+    return amount / 2 % 7 * 1 ** 2",
            ),
        ],
    ),
    "const_off_by_one": (
        ("def window(items):\n    return items[1:0x10]\n"),
        [
            (
                "-    return items[1:0x10]",
                "+    return items[2:0x10]",
            ),
            (
                "-    return items[1:0x10]",
                "+    return items[0:0x10]",
            ),
            (
                "-    return items[1:0x10]",
                "+    return items[1:0x11]",
            ),
            (
                "-    return items[1:0x10]",
                "+    return items[1:0xf]",
            ),
        ],
    ),
    "negate_condition": (
        (
            "def pick(a, b):\n"
            "    while a > b:\n"
            "        a -= b\n"
            "    if(a):\n"
            "        return a\n"
            "    elif not b:\n"
            "        return 0\n"
            "    return a if a else b\n"
        ),
        [
            (
                "-    while a > b:",
                "+    while not (a > b):",
            ),
            (
                "-    elif not b:",
                "+    elif b:",
            ),
            (
                "-    if(a):",
                "+    if not (a):",
            ),
            (
                "-    return a if a else b",
                "+    return a if not a else b",
            ),
        ],
    ),
    "remove_statement": (
        (
            "def build(rows):\n"
            '    """Collect first columns."""\n'
            "    out = []\n"
            "    # keep only the first column\n"
            "    out.extend(r[0] for r in rows)\n"
            "    out.sort()\n"
            "    return out\n"
        ),
        [
            ("-    out = []",),
            ("-    out.extend(r[0] for r in rows)",),
            ("-    out.sort()",),
        ],
    ),
    "swap_if_else": (
        (
            "def sign(x):\n"
            "    if x >= 0:  # non-negative\n"
            "        result = 1\n"
            "    else:\n"
            "        result = -1\n"
            "    return result\n"
        ),
        [
            (
                "+        result = -1",
                "+    else:",
                "-    else:",
                "-        result = -1",
            ),
        ],
    ),
    "bool_op_swap": (
        ("def both(a, b):\n    return a and(b) or not a\n"),
        [
            (
                "-    return a and(b) or not a",
                "+    return a or(b) or not a",
            ),
            (
                "-    return a and(b) or not a",
                "+    return a and(b) and not a",
            ),
        ],
    ),
    "return_value": (
        ("def is_odd(n):\n    if n % 2:\n        return True\n    return n\n"),
        [
            (
                "-        return True",
                "+        return False",
            ),
            (
                "-    return n",
                "+    return None",
            ),
        ],
    ),
    "break_continue": (
        (
            "def first_even(xs):\n"
            "    for x in xs:\n"
            "        if x % 2: continue\n"
            "        break\n"
            "    return x\n"
        ),
        [
            (
                "-        if x % 2: continue",
                "+        if x % 2: break",
            ),
            (
                "-        break",
                "+        continue",
            ),
        ],
    ),
    "min_max_swap": (
        ("def bounds(xs):\n    return min(xs), max(xs)\n"),
        [
            (
                "-    return min(xs), max(xs)",
                "+    return max(xs), max(xs)",
            ),
            (
                "-    return min(xs), max(xs)",
                "+    return min(xs), min(xs)",
            ),
        ],
    ),
    "compare_boundary": (
        ("def inside(x, lo, hi):\n    return lo <= x < hi  # half-open\n"),
        [
            (
                "-    return lo <= x < hi  # half-open",
                "+    return lo < x < hi  # half-open",
            ),
            (
                "-    return lo <= x < hi  # half-open",
                "+    return lo <= x <= hi  # half-open",
            ),
        ],
    ),
    "is_in_flip": (
        (
            "def pick(key, table):\n"
            "    if key is None or key not in table:\n"
            "        return None\n"
            "    return table[key]\n"
        ),
        [
            (
                "-    if key is None or key not in table:",
                "+    if key is not None or key not in table:",
            ),
            (
                "-    if key is None or key not in table:",
                "+    if key is None or key in table:",
            ),
        ],
    ),
    "bitwise_swap": (
        ("def flags(a, b):\n    mask = a & b | 1\n    mask <<= 2\n    return mask ^ (a >> 1)\n"),
        [
            (
                "-    mask = a & b | 1",
                "+    mask = a | b | 1",
            ),
            (
                "-    mask = a & b | 1",
                "+    mask = a & b & 1",
            ),
            (
                "-    mask <<= 2",
                "+    mask >>= 2",
            ),
            (
                "-    return mask ^ (a >> 1)",
                "+    return mask ^ (a << 1)",
            ),
            (
                "-    return mask ^ (a >> 1)",
                "+    return mask | (a >> 1)",
            ),
        ],
    ),
    "swap_operands": (
        ("def span(lo, hi):\n    width = hi - lo\n    return width / 2 if lo < hi else 0\n"),
        [
            (
                "-    width = hi - lo",
                "+    width = lo - hi",
            ),
            (
                "-    return width / 2 if lo < hi else 0",
                "+    return 2 / width if lo < hi else 0",
            ),
            (
                "-    return width / 2 if lo < hi else 0",
                "+    return width / 2 if hi < lo else 0",
            ),
        ],
    ),
    "remove_condition": (
        (
            "def clip(xs, limit):\n"
            "    out = []\n"
            "    for x in xs:\n"
            "        # only small ones\n"
            "        if x < limit and x > 0:\n"
            "            out.append(x)\n"
            "    return out\n"
        ),
        [
            (
                "-        if x < limit and x > 0:",
                "+        if x < limit:",
            ),
            (
                "-        if x < limit and x > 0:",
                "+        if x > 0:",
            ),
            (
                "-        if x < limit and x > 0:",
                "-            out.append(x)",
                "+        out.append(x)",
            ),
        ],
    ),
    "remove_loop": (
        (
            "def total(xs):\n"
            "    acc = 0\n"
            "    for x in xs:  # add them up\n"
            "        acc += x\n"
            "    return acc\n"
        ),
        [
            (
                "-    for x in xs:  # add them up",
                "-        acc += x",
            ),
        ],
    ),
    "remove_return": (
        (
            "def first(xs, default):\n"
            "    for x in xs:\n"
            "        if x:\n"
            "            return x\n"
            "    return default\n"
        ),
        [
            (
                "-            return x",
                "+            pass",
            ),
        ],
    ),
    "remove_try_except": (
        (
            "def parse(text):\n"
            "    try:\n"
            "        value = int(text)\n"
            "    except ValueError:\n"
            "        value = 0\n"
            "    return value\n"
        ),
        [
            (
                "-    try:",
                "-        value = int(text)",
                "-    except ValueError:",
                "-        value = 0",
                "+    value = int(text)",
            ),
        ],
    ),
    "remove_with": (
        (
            "import threading\n"
            "_lock = threading.Lock()\n"
            "def bump(counter):\n"
            "    with _lock:\n"
            "        counter['n'] += 1\n"
            "    return counter\n"
        ),
        [
            (
                "-    with _lock:",
                "-        counter['n'] += 1",
                "+    counter['n'] += 1",
            ),
        ],
    ),
    "zero_iteration_loop": (
        (
            "def drain(queue, xs):\n"
            "    for x in xs:\n"
            "        queue.append(x)\n"
            "    while queue:\n"
            "        queue.pop()\n"
            "    return queue\n"
        ),
        [
            (
                "-    for x in xs:",
                "+    for x in ():",
            ),
            (
                "-    while queue:",
                "+    while False:",
            ),
        ],
    ),
    "string_method_swap": (
        (
            "def clean(line):\n"
            "    head, _, tail = line.strip().partition('=')\n"
            "    return head.lower(), tail.split(',', 1)\n"
        ),
        [
            (
                "-    head, _, tail = line.strip().partition('=')",
                "+    head, _, tail = line.lstrip().partition('=')",
            ),
            (
                "-    head, _, tail = line.strip().partition('=')",
                "+    head, _, tail = line.rstrip().partition('=')",
            ),
            (
                "-    head, _, tail = line.strip().partition('=')",
                "+    head, _, tail = line.strip().rpartition('=')",
            ),
            (
                "-    return head.lower(), tail.split(',', 1)",
                "+    return head.upper(), tail.split(',', 1)",
            ),
            (
                "-    return head.lower(), tail.split(',', 1)",
                "+    return head.lower(), tail.rsplit(',', 1)",
            ),
        ],
    ),
    "drop_call_arg": (
        ("def fmt(value, width):\n    return format_cell(value, width, align='right')\n"),
        [
            (
                "-    return format_cell(value, width, align='right')",
                "+    return format_cell(value, align='right')",
            ),
            (
                "-    return format_cell(value, width, align='right')",
                "+    return format_cell(value, width)",
            ),
        ],
    ),
    "arg_to_none": (
        ("def fmt(value, width):\n    return format_cell(value, align=width)\n"),
        [
            (
                "-    return format_cell(value, align=width)",
                "+    return format_cell(None, align=width)",
            ),
            (
                "-    return format_cell(value, align=width)",
                "+    return format_cell(value, align=None)",
            ),
        ],
    ),
    "swap_call_args": (
        ("def fmt(value, width):\n    return format_cell(value, width, 'right')\n"),
        [
            (
                "-    return format_cell(value, width, 'right')",
                "+    return format_cell(width, value, 'right')",
            ),
            (
                "-    return format_cell(value, width, 'right')",
                "+    return format_cell(value, 'right', width)",
            ),
        ],
    ),
    "wrong_variable": (
        (
            "def area(width: int, height: int, label: str = ''):\n"
            "    margin = 2\n"
            "    return (width + margin) * height, label\n"
        ),
        [
            (
                "-    return (width + margin) * height, label",
                "+    return (height + margin) * height, label",
            ),
            (
                "-    return (width + margin) * height, label",
                "+    return (margin + margin) * height, label",
            ),
            (
                "-    return (width + margin) * height, label",
                "+    return (width + height) * height, label",
            ),
            (
                "-    return (width + margin) * height, label",
                "+    return (width + width) * height, label",
            ),
            (
                "-    return (width + margin) * height, label",
                "+    return (width + margin) * margin, label",
            ),
            (
                "-    return (width + margin) * height, label",
                "+    return (width + margin) * width, label",
            ),
        ],
    ),
    "remove_decorator": (
        (
            "import functools\n"
            "class Box:\n"
            "    # cached on purpose\n"
            "    @functools.lru_cache(maxsize=None)\n"
            "    @staticmethod\n"
            "    def size(n):\n"
            "        return n * 2\n"
        ),
        [
            ("-    @functools.lru_cache(maxsize=None)",),
            ("-    @staticmethod",),
        ],
    ),
    "remove_base_class": (
        ("class Base:\n    pass\nclass Mixin:\n    pass\nclass Strict(Base, Mixin):\n    x = 1\n"),
        [
            (
                "-class Strict(Base, Mixin):",
                "+class Strict(Mixin):",
            ),
            (
                "-class Strict(Base, Mixin):",
                "+class Strict(Base):",
            ),
        ],
    ),
    "remove_method": (
        (
            "class Base:\n"
            "    def name(self):\n"
            "        return 'base'\n"
            "class Child(Base):\n"
            "    def __init__(self):\n"
            "        self.n = 1\n"
            "\n"
            "    def name(self):\n"
            "        return 'child'\n"
            "\n"
            "    def __repr__(self):\n"
            "        return 'Child()'\n"
        ),
        [
            (
                "-    def name(self):",
                "-        return 'child'",
            ),
            (
                "-    def __repr__(self):",
                "-        return 'Child()'",
            ),
        ],
    ),
    "shuffle_statements": (
        (
            "def step(state):\n"
            "    state.prev = state.cur\n"
            "    state.cur = state.cur + 1  # advance\n"
            "    return state\n"
        ),
        [
            (
                "+    state.cur = state.cur + 1  # advance",
                "-    state.cur = state.cur + 1  # advance",
            ),
        ],
    ),
    "change_default": (
        ("def render(rows, strict=True, width=8, sep=', ', *, pad=None):\n    return rows\n"),
        [
            (
                "-def render(rows, strict=True, width=8, sep=', ', *, pad=None):",
                "+def render(rows, strict=False, width=8, sep=', ', *, pad=None):",
            ),
            (
                "-def render(rows, strict=True, width=8, sep=', ', *, pad=None):",
                "+def render(rows, strict=True, width=9, sep=', ', *, pad=None):",
            ),
            (
                "-def render(rows, strict=True, width=8, sep=', ', *, pad=None):",
                "+def render(rows, strict=True, width=7, sep=', ', *, pad=None):",
            ),
            (
                "-def render(rows, strict=True, width=8, sep=', ', *, pad=None):",
                "+def render(rows, strict=True, width=8, sep='', *, pad=None):",
            ),
        ],
    ),
    "exception_swap": (
        (
            "def get(table, key):\n"
            "    try:\n"
            "        return table[key]\n"
            "    except (KeyError, TypeError):\n"
            "        raise ValueError(key)\n"
        ),
        [
            (
                "-        raise ValueError(key)",
                "+        raise TypeError(key)",
            ),
            (
                "-    except (KeyError, TypeError):",
                "+    except (IndexError, TypeError):",
            ),
            (
                "-    except (KeyError, TypeError):",
                "+    except (KeyError, ValueError):",
            ),
        ],
    ),
    "aug_to_assign": (
        ("def total(xs):\n    acc = 0\n    for x in xs:\n        acc += x\n    return acc\n"),
        [
            (
                "-        acc += x",
                "+        acc = x",
            ),
        ],
    ),
}


# Operators that rewrite a single line in place, every other line byte for byte.
LINE_LOCAL = {
    "compare_flip",
    "compare_boundary",
    "is_in_flip",
    "arith_swap",
    "bitwise_swap",
    "bool_op_swap",
    "swap_operands",
    "const_off_by_one",
    "negate_condition",
    "zero_iteration_loop",
    "break_continue",
    "string_method_swap",
    "drop_call_arg",
    "arg_to_none",
    "swap_call_args",
    "wrong_variable",
    "remove_base_class",
    "change_default",
    "exception_swap",
    "min_max_swap",
    "return_value",
    "aug_to_assign",
}

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")


def changes(before: str, after: str) -> tuple[str, ...]:
    """The -/+ lines of a zero-context diff: what a reviewer sees of a mutation."""
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return tuple(line for line in diff if not line.startswith(("---", "+++", "@@")))


def mutations(source: str, operator: str) -> list[tuple[str, ...]]:
    return [changes(source, apply_site(source, s)) for s in find_sites(source, "m.py", [operator])]


def test_registry_holds_at_least_25_operators_each_in_its_own_module_with_a_sample() -> None:
    assert len(OPERATORS) >= 25
    assert set(SAMPLES) == set(OPERATORS)
    for name, operator in REGISTRY.items():
        module = importlib.import_module(f"synth.operators.{name}")
        assert module.OPERATOR is operator
        assert operator.summary and operator.nodes


@pytest.mark.parametrize("operator", OPERATORS)
def test_operator_makes_exactly_the_expected_mutations(operator: str) -> None:
    source, expected = SAMPLES[operator]
    sites = find_sites(source, "pkg/mod.py", [operator])
    assert [site.index for site in sites] == list(range(len(sites)))
    assert {site.operator for site in sites} == {operator}
    assert mutations(source, operator) == expected


@pytest.mark.parametrize("operator", OPERATORS)
def test_every_mutation_compiles(operator: str) -> None:
    source, _ = SAMPLES[operator]
    for site in find_sites(source, "pkg/mod.py", [operator]):
        compile(apply_site(source, site), "pkg/mod.py", "exec")


@pytest.mark.parametrize("operator", sorted(LINE_LOCAL))
def test_line_local_mutations_keep_every_other_line_byte_for_byte(operator: str) -> None:
    source, _ = SAMPLES[operator]
    before = source.splitlines(keepends=True)
    for site in find_sites(source, "pkg/mod.py", [operator]):
        after = apply_site(source, site).splitlines(keepends=True)
        assert len(after) == len(before)
        assert sum(a != b for a, b in zip(before, after, strict=True)) == 1, site


@pytest.mark.parametrize("operator", OPERATORS)
@pytest.mark.parametrize("seed", [0, 1])
def test_generation_of_one_operator_is_seeded_and_only_makes_its_mutations(
    operator: str, seed: int
) -> None:
    source, expected = SAMPLES[operator]
    files = {"pkg/mod.py": source}
    first = generate("s", files, max_candidates=3, seed=seed, operators=[operator])
    again = generate("s", files, max_candidates=3, seed=seed, operators=[operator])
    assert first == again
    assert first.candidates and {c.operator for c in first.candidates} == {operator}
    for c in first.candidates:
        assert c.patch == make_patch("pkg/mod.py", source, _patched(source, c.patch, expected))


def _patched(source: str, patch: str, expected: list[tuple[str, ...]]) -> str:
    """The one mutation of ``source`` (among the expected ones) whose patch is ``patch``."""
    for site in find_sites(source, "pkg/mod.py"):
        after = apply_site(source, site)
        if make_patch("pkg/mod.py", source, after) == patch:
            assert changes(source, after) in expected
            return after
    raise AssertionError(f"no site makes {patch!r}")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@needs_git
@pytest.mark.parametrize("operator", OPERATORS)
def test_patch_applies_and_reverse_applies_with_git(operator: str, tmp_path: Path) -> None:
    source, _ = SAMPLES[operator]
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    _git(repo, "init", "-q")
    target = repo / "pkg" / "mod.py"
    patch_file = tmp_path / "bug.diff"
    for site in find_sites(source, "pkg/mod.py", [operator]):
        after = apply_site(source, site)
        target.write_bytes(source.encode())
        patch_file.write_bytes(make_patch("pkg/mod.py", source, after).encode())
        _git(repo, "apply", str(patch_file))
        assert target.read_bytes().decode() == after
        _git(repo, "apply", "-R", str(patch_file))
        assert target.read_bytes().decode() == source


def test_definition_operators_are_the_ones_that_touch_definitions() -> None:
    definition = {name for name, op in REGISTRY.items() if op.scope is Scope.DEFINITION}
    assert definition == {
        "remove_decorator",
        "remove_base_class",
        "remove_method",
        "change_default",
    }


# --- what each operator must leave alone -------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "source"),
    [
        # split and rsplit agree without a maxsplit: an equivalent mutant.
        ("string_method_swap", "def f(s):\n    return s.split(',')\n"),
        # unwrapping `with open(p) as fh` only leaves a NameError behind
        ("remove_with", "def f(p):\n    with open(p) as fh:\n        return fh.read()\n"),
        # the function's final return is return_value's business
        ("remove_return", "def f(x):\n    y = x + 1\n    return y\n"),
        # a lone positional argument and logging calls are not worth dropping
        ("drop_call_arg", "def f(x):\n    print(x, end='')\n    return len(x)\n"),
        ("arg_to_none", "def f(x):\n    return len(x) + isinstance(x, int) + g(None)\n"),
        # equal operands: swapping them changes nothing
        ("swap_operands", "def f(x):\n    return x - x\n"),
        ("swap_call_args", "def f(x):\n    return g(x, x, key=1)\n"),
        # `object`, `Generic`, `Protocol` bases change nothing when removed
        ("remove_base_class", "class A(object):\n    pass\nclass B(Protocol):\n    pass\n"),
        # __init__ is essential; a plain method of a base-less class is only an AttributeError
        (
            "remove_method",
            "class A:\n    def __init__(self):\n        pass\n    def run(self):\n        pass\n",
        ),
        ("remove_decorator", "@overload\ndef f(x: int) -> int: ...\n"),
        ("change_default", "def f(x=None, y=-1, z='', w=1.5):\n    return x\n"),
        ("exception_swap", "def f(x):\n    raise errors.Custom(x)\n"),
        # a constant loop is negate_condition-proof; an empty one cannot iterate less
        ("zero_iteration_loop", "def f():\n    for x in ():\n        pass\n"),
        ("negate_condition", "def f():\n    while True:\n        break\n"),
    ],
)
def test_operator_leaves_these_alone(operator: str, source: str) -> None:
    assert find_sites(source, "m.py", [operator]) == []


def test_wrong_variable_swaps_only_same_type_names_already_bound() -> None:
    source = (
        "def f(count: int, name: str, items):\n"
        "    first = count + 1\n"  # count read before `total` exists: only `first`-free swaps
        "    total = 0\n"
        "    label = name.strip()\n"
        "    mixed = 1\n"
        "    mixed = 'one'\n"  # disagreeing assignments: never swapped, never a stand-in
        "    return first + total, label, items, mixed\n"
    )
    old = "-    return first + total, label, items, mixed"
    assert mutations(source, "wrong_variable") == [
        (old, "+    return count + total, label, items, mixed"),
        (old, "+    return total + total, label, items, mixed"),
        (old, "+    return first + count, label, items, mixed"),
        (old, "+    return first + first, label, items, mixed"),
        (old, "+    return first + total, name, items, mixed"),
    ]


def test_wrong_variable_ignores_targets_attributes_keywords_and_callees() -> None:
    source = "def f(a: int, b: int):\n    a.real\n    g(a=b)\n    b(1)\n    return 0\n"
    found = mutations(source, "wrong_variable")
    assert found == [
        ("-    a.real", "+    b.real"),
        ("-    g(a=b)", "+    g(a=a)"),
    ]


def test_remove_base_class_drops_empty_parentheses_but_keeps_keywords() -> None:
    source = "class A(Base):\n    pass\nclass B(Base, metaclass=Meta):\n    pass\n"
    assert mutations(source, "remove_base_class") == [
        ("-class A(Base):", "+class A:"),
        ("-class B(Base, metaclass=Meta):", "+class B(metaclass=Meta):"),
    ]


def test_swap_operands_parenthesizes_what_would_parse_differently() -> None:
    source = "def f(a, b, c):\n    return a - b - c\n"
    assert mutations(source, "swap_operands") == [
        ("-    return a - b - c", "+    return b - a - c"),  # the inner `a - b`: (b - a) - c
        ("-    return a - b - c", "+    return c - (a - b)"),
    ]


def test_block_removals_keep_the_comments_of_what_they_remove() -> None:
    source = (
        "def f(xs):\n"
        "    total = 0\n"
        "    # sum them\n"
        "    for x in xs:\n"
        "        total += x\n"
        "    return total\n"
    )
    for operator in ("remove_loop", "remove_statement"):
        for site in find_sites(source, "m.py", [operator]):
            assert "    # sum them\n" in apply_site(source, site)
