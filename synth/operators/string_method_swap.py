"""`s.lstrip()` -> `s.rstrip()`, `find` -> `rfind`, `lower` -> `upper` ...: a string method
replaced by its mirror image."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant

SWAPS: dict[str, tuple[str, ...]] = {
    "lstrip": ("rstrip",),
    "rstrip": ("lstrip",),
    "strip": ("lstrip", "rstrip"),
    "find": ("rfind",),
    "rfind": ("find",),
    "rindex": ("index",),
    "partition": ("rpartition",),
    "rpartition": ("partition",),
    "lower": ("upper",),
    "upper": ("lower",),
    "startswith": ("endswith",),
    "endswith": ("startswith",),
    "ljust": ("rjust",),
    "rjust": ("ljust",),
    "removeprefix": ("removesuffix",),
    "removesuffix": ("removeprefix",),
    "capitalize": ("title",),
    "title": ("capitalize",),
    "isdigit": ("isalpha",),
    "isalpha": ("isdigit",),
}
# Without a maxsplit, `split` and `rsplit` return the same list: an equivalent mutant, no bug.
_SPLITS = {"split": "rsplit", "rsplit": "split"}


def _has_maxsplit(node: cst.Call) -> bool:
    positional = [a for a in node.args if a.keyword is None and not a.star]
    keywords = {a.keyword.value for a in node.args if a.keyword is not None}
    return len(positional) >= 2 or "maxsplit" in keywords


def _variants(node: cst.Call, ctx: SiteContext) -> list[Variant]:
    func = node.func
    if not isinstance(func, cst.Attribute):
        return []
    name = func.attr.value
    targets = SWAPS.get(name, ())
    if name in _SPLITS and _has_maxsplit(node):
        targets = (_SPLITS[name],)
    return [
        Variant(
            f"`.{name}(` -> `.{new}(`",
            partial(
                node.with_changes, func=func.with_changes(attr=func.attr.with_changes(value=new))
            ),
        )
        for new in targets
    ]


OPERATOR = Operator(
    "string_method_swap",
    (cst.Call,),
    _variants,
    summary="mirror-image string methods: `lstrip` <-> `rstrip`, `find` <-> `rfind` ...",
)
