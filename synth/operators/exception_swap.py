"""`raise ValueError(...)` -> `raise TypeError(...)`; `except KeyError:` -> `except IndexError:`."""

from __future__ import annotations

from functools import partial

import libcst as cst

from synth.operators.base import Operator, SiteContext, Variant

# Each builtin exception is replaced by a sibling that callers plausibly catch instead.
SIBLINGS: dict[str, str] = {
    "ValueError": "TypeError",
    "TypeError": "ValueError",
    "KeyError": "IndexError",
    "IndexError": "KeyError",
    "LookupError": "ValueError",
    "AttributeError": "TypeError",
    "RuntimeError": "ValueError",
    "NotImplementedError": "RuntimeError",
    "ZeroDivisionError": "ValueError",
    "OverflowError": "ValueError",
    "OSError": "ValueError",
    "FileNotFoundError": "PermissionError",
    "PermissionError": "FileNotFoundError",
    "UnicodeDecodeError": "ValueError",
    "ImportError": "AttributeError",
    "Exception": "ValueError",
}


def _renamed(name: cst.Name) -> tuple[str, cst.Name] | None:
    new = SIBLINGS.get(name.value)
    return (new, name.with_changes(value=new)) if new else None


def _raise_variants(node: cst.Raise) -> list[Variant]:
    exc = node.exc
    target = exc.func if isinstance(exc, cst.Call) else exc
    if not isinstance(target, cst.Name) or (renamed := _renamed(target)) is None:
        return []
    new, name = renamed
    new_exc = exc.with_changes(func=name) if isinstance(exc, cst.Call) else name
    return [
        Variant(f"raise {new} instead of {target.value}", partial(node.with_changes, exc=new_exc))
    ]


def _handler_variants(node: cst.ExceptHandler) -> list[Variant]:
    kind = node.type
    if isinstance(kind, cst.Name) and (renamed := _renamed(kind)):
        new, name = renamed
        return [
            Variant(f"catch {new} instead of {kind.value}", partial(node.with_changes, type=name))
        ]
    if not isinstance(kind, cst.Tuple):
        return []
    variants = []
    for i, element in enumerate(kind.elements):
        if isinstance(element.value, cst.Name) and (renamed := _renamed(element.value)):
            new, name = renamed
            elements = list(kind.elements)
            elements[i] = element.with_changes(value=name)
            build = partial(node.with_changes, type=kind.with_changes(elements=elements))
            variants.append(Variant(f"catch {new} instead of {element.value.value}", build))
    return variants


def _variants(node: cst.Raise | cst.ExceptHandler, ctx: SiteContext) -> list[Variant]:
    if isinstance(node, cst.Raise):
        return _raise_variants(node)
    return _handler_variants(node)


OPERATOR = Operator(
    "exception_swap",
    (cst.Raise, cst.ExceptHandler),
    _variants,
    summary="raise or catch a sibling exception type",
)
