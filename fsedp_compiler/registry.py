"""Registries of the dialects, passes, targets and front ends that `fsedp-opt` offers.

Every entry is a factory that imports its module only when called, so `fsedp-opt --help` does not
pay for importing every pass. To add a pass: write `passes/<name>.py` with one `ModulePass`
subclass and add a factory to `get_all_passes` below.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.ir import Attribute, Dialect
from xdsl.passes import ModulePass
from xdsl.utils.frontend import Frontend
from xdsl.utils.target import Target


def get_all_dialects() -> dict[str, Callable[[], Dialect]]:
    """Our dialects plus the upstream ones our IR uses (builtin, func, arith). Every parser
    then reads a dense literal's type before its values (`dense_type_problem`)."""
    from dialects.xdsl_internals import guard_dense_literals

    guard_dense_literals(dense_type_problem)

    def get_builtin():
        from xdsl.dialects.builtin import Builtin

        return Builtin

    def get_func():
        from xdsl.dialects.func import Func

        return Func

    def get_arith():
        from xdsl.dialects.arith import Arith

        return Arith

    def get_moe():
        from dialects.moe import MoE

        return MoE

    def get_chiplet():
        from dialects.chiplet import Chiplet

        return Chiplet

    def get_cisa():
        from dialects.cisa import CISA

        return CISA

    return {
        "builtin": get_builtin,
        "func": get_func,
        "arith": get_arith,
        "moe": get_moe,
        "chiplet": get_chiplet,
        "cisa": get_cisa,
    }


def dense_type_problem(type: Attribute) -> str | None:
    """Why a `dense<...>` literal of this type is refused before its values are read: larger
    than a routing may be (the only dense tensor of our IR; README: Limits). None if fine."""
    from fsedp_compiler import limits

    get_shape = getattr(type, "get_shape", None)
    shape = tuple(get_shape()) if get_shape is not None else ()
    if any(dim < 0 for dim in shape):
        return None  # a dynamic shape: xDSL refuses it
    count = math.prod(shape)
    tokens = shape[0] if len(shape) == 2 else 0
    if count > limits.MAX_ROUTED_IDS or tokens > limits.MAX_TOKENS:
        dims = "x".join(map(str, shape))
        return (
            f"a dense tensor of shape {dims} ({count} elements) is larger than a routing may "
            f"be: at most {limits.MAX_TOKENS} tokens and {limits.MAX_ROUTED_IDS} expert ids "
            "per layer (README: Limits)"
        )
    return None


def context() -> Context:
    """A context with every dialect of `get_all_dialects` registered (loaded on first use)."""
    ctx = Context()
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    return ctx


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Our passes plus the generic upstream clean-ups."""

    def get_canonicalize():
        from xdsl.transforms.canonicalize import CanonicalizePass

        return CanonicalizePass

    def get_cse():
        from xdsl.transforms.common_subexpression_elimination import (
            CommonSubexpressionElimination,
        )

        return CommonSubexpressionElimination

    def get_dce():
        from xdsl.transforms.dead_code_elimination import DeadCodeElimination

        return DeadCodeElimination

    from fsedp_compiler.pipelines import compiler_passes  # lazy factories, imports no pass

    return {
        "canonicalize": get_canonicalize,
        "cse": get_cse,
        "dce": get_dce,
        **compiler_passes(),
    }


def _compiling_first(target: type[Target]) -> type[Target]:
    """`target`, emitting after `compile_if_needed`: one rule for every target that reads
    lowered programs (a `.moe` file is compiled with its declared strategy, as `fsedp-sim`
    does), while the backends themselves only read programs."""

    def emit(self, ctx, module, output) -> None:
        from fsedp_compiler.pipelines import compile_if_needed

        target.emit(self, ctx, compile_if_needed(module), output)

    return dataclass(frozen=True)(type(target.__name__, (target,), {"emit": emit}))


def get_all_targets() -> dict[str, Callable[[], type[Target]]]:
    """Output formats selectable with `-t`."""

    def get_mlir():
        from xdsl.targets.mlir import MLIRTarget

        return MLIRTarget

    def get_sim_report():
        from backends.sim.target import SimReportTarget

        return _compiling_first(SimReportTarget)

    def get_cisa_asm():
        from backends.asm import CisaAsmTarget

        return _compiling_first(CisaAsmTarget)

    return {
        "mlir": get_mlir,
        "sim-report": get_sim_report,
        "cisa-asm": get_cisa_asm,
    }


def get_all_frontends() -> dict[str, Callable[[], type[Frontend]]]:
    """Input formats, chosen by file extension or with `-f`."""

    def get_mlir():
        from xdsl.frontend.mlir import MLIRFrontend

        return MLIRFrontend

    def get_moe():
        from fsedp_compiler.frontend import MoeFrontend

        return MoeFrontend

    return {
        "mlir": get_mlir,
        "moe": get_moe,
    }
