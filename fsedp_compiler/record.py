"""What a module records about its compilation: the strategy and its options.

Two module attributes, read by the compiler, the program writers and the simulator alike:

- `fsedp.strategy`: the named pipeline (`fsedp`, `fsedp-paired`, `ep`, `hydra`). On a `.moe`
  module it is the file's `strategy` block; after a pipeline ran, the pipeline that ran.
- `fsedp.strategy_options`: a dictionary of option values. On a `.moe` module, the options the
  file wrote; after a pipeline ran, every option as it ran, automatic choices resolved
  (`fsedp_compiler.pipelines.resolved_options`).
"""

from __future__ import annotations

from xdsl.dialects.builtin import (
    ArrayAttr,
    BoolAttr,
    DictionaryAttr,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    f64,
)
from xdsl.ir import Attribute

STRATEGY_ATTR = "fsedp.strategy"
STRATEGY_OPTIONS_ATTR = "fsedp.strategy_options"


def option_attr(value: object) -> Attribute:
    """An option value (bool, int, float, str or a list of them) as an attribute."""
    if isinstance(value, bool):
        return BoolAttr.from_bool(value)
    if isinstance(value, int):
        return IntegerAttr(value, 64)
    if isinstance(value, float):
        return FloatAttr(value, f64)
    if isinstance(value, (list, tuple)):
        return ArrayAttr([option_attr(v) for v in value])
    return StringAttr(str(value))


def option_value(attr: Attribute) -> object:
    """The inverse of `option_attr`."""
    if isinstance(attr, IntegerAttr):
        is_bool = isinstance(attr.type, IntegerType) and attr.type.width.data == 1
        return bool(attr.value.data) if is_bool else attr.value.data
    if isinstance(attr, FloatAttr):
        return attr.value.data
    if isinstance(attr, StringAttr):
        return attr.data
    if isinstance(attr, ArrayAttr):
        return [option_value(a) for a in attr.data]
    return str(attr)


def check_strategy_attributes(module: ModuleOp) -> None:
    """What a module read from text says it ran, checked: the strategy a string, the options
    a dictionary of single numbers, booleans and strings (no option takes a list). Read
    otherwise, a wrong type would be dropped without a word."""
    from fsedp_compiler.errors import FsedpError

    strategy = module.attributes.get(STRATEGY_ATTR)
    if strategy is not None and not isinstance(strategy, StringAttr):
        raise FsedpError(f"{STRATEGY_ATTR} must be a string naming a strategy, got {strategy}")
    options = module.attributes.get(STRATEGY_OPTIONS_ATTR)
    if options is None:
        return
    if not isinstance(options, DictionaryAttr):
        raise FsedpError(f"{STRATEGY_OPTIONS_ATTR} must be a dictionary, got {options}")
    for key, value in options.data.items():
        if not isinstance(value, (IntegerAttr, FloatAttr, StringAttr)):
            raise FsedpError(
                f"{STRATEGY_OPTIONS_ATTR}: option '{key}' takes one number, boolean or string, "
                f"got {value}"
            )


def module_strategy(module: ModuleOp) -> str | None:
    attr = module.attributes.get(STRATEGY_ATTR)
    return attr.data if isinstance(attr, StringAttr) else None


def module_options(module: ModuleOp) -> dict[str, object]:
    """`fsedp.strategy_options` as Python values (empty when absent)."""
    attr = module.attributes.get(STRATEGY_OPTIONS_ATTR)
    if not isinstance(attr, DictionaryAttr):
        return {}
    return {key: option_value(value) for key, value in attr.data.items()}


def record(module: ModuleOp, strategy: str, options: dict[str, object]) -> None:
    """Set both attributes, replacing what was there."""
    module.attributes[STRATEGY_ATTR] = StringAttr(strategy)
    module.attributes[STRATEGY_OPTIONS_ATTR] = DictionaryAttr(
        {key: option_attr(value) for key, value in options.items()}
    )


def format_options(options: dict[str, object]) -> str:
    """`slices=16 order=paired ...`, as `-p 'name{...}'` takes them."""

    def show(value: object) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return ",".join(map(show, value))
        return str(value)

    return " ".join(f"{key}={show(value)}" for key, value in options.items())
