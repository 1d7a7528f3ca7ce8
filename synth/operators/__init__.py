"""The registry of mutation operators: one small module each, listed here once.

Registry order is the public order of operators (sampling shuffles it per seed). To add an
operator, write a module with an ``OPERATOR = Operator(...)`` and add it to ``_MODULES``; its
unit test goes beside the others in tests/unit/test_operators.py.
"""

from __future__ import annotations

from synth.operators import (
    arg_to_none,
    arith_swap,
    aug_to_assign,
    bitwise_swap,
    bool_op_swap,
    break_continue,
    change_default,
    compare_boundary,
    compare_flip,
    const_off_by_one,
    drop_call_arg,
    exception_swap,
    is_in_flip,
    min_max_swap,
    negate_condition,
    remove_base_class,
    remove_condition,
    remove_decorator,
    remove_loop,
    remove_method,
    remove_return,
    remove_statement,
    remove_try_except,
    remove_with,
    return_value,
    shuffle_statements,
    string_method_swap,
    swap_call_args,
    swap_if_else,
    swap_operands,
    wrong_variable,
    zero_iteration_loop,
)
from synth.operators.base import Operator, Scope, SiteContext, Variant

_MODULES = (
    compare_flip,
    arith_swap,
    const_off_by_one,
    negate_condition,
    remove_statement,
    swap_if_else,
    bool_op_swap,
    return_value,
    break_continue,
    min_max_swap,
    compare_boundary,
    is_in_flip,
    bitwise_swap,
    swap_operands,
    remove_condition,
    remove_loop,
    remove_return,
    remove_try_except,
    remove_with,
    zero_iteration_loop,
    string_method_swap,
    drop_call_arg,
    arg_to_none,
    swap_call_args,
    wrong_variable,
    remove_decorator,
    remove_base_class,
    remove_method,
    shuffle_statements,
    change_default,
    exception_swap,
    aug_to_assign,
)
REGISTRY: dict[str, Operator] = {module.OPERATOR.name: module.OPERATOR for module in _MODULES}
OPERATORS: tuple[str, ...] = tuple(REGISTRY)

__all__ = ["OPERATORS", "REGISTRY", "Operator", "Scope", "SiteContext", "Variant"]
