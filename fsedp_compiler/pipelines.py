"""Named compilation pipelines (one per strategy) and `compile_module`, the compiler's API.

A strategy is a named list of passes with options (`PIPELINES`). It can be run

- from the command line: `fsedp-opt layer.moe -p fsedp` or `-p 'fsedp{slices=8 order=id}'`;
- from Python: `compile_module(module, "ep", {"policy": ...})`;
- from a `.moe` file's `strategy fsedp-paired { slices = 8 }` block: `compile_module(module)`
  uses it; `fsedp-opt file.moe` alone does not compile (it prints the moe IR), `-p <name>`
  does, with the file's options when the file names that same strategy.

Options of a pipeline (`fsedp{...}`, `.moe` strategy blocks, `overrides`) map onto its passes:
- `opt=value` sets option `opt` of the one pass in the pipeline that has it (`slices` goes to
  shard-experts, `order` to order-loads, `shape` to schedule-trajectories, ...);
- `<pass>-<opt>=value` sets it on that pass only; needed when two passes of a pipeline share an
  option name (in `ep` and `hydra`, `partition-tokens-policy` vs `place-experts-policy`);
- `verify=false` drops the final `verify-programs`.
`_` and `-` are interchangeable in option names. Unknown, ambiguous or ill-typed options are
errors that list the accepted names or values, and so is one option given twice in any spelling.
File options apply first, `-p`/`overrides` on top (replacing the file's, however spelled).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import ClassVar

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.utils.arg_spec import ArgSpec, parse_pipeline

from fsedp_compiler.errors import FsedpError
from fsedp_compiler.perf import paused_gc
from fsedp_compiler.record import (
    module_options,
    module_strategy,
    record,
)

DEFAULT_STRATEGY = "fsedp-paired"

# pass name -> (module, class); imported only when the pass is used
PASSES: dict[str, tuple[str, str]] = {
    "partition-tokens": ("passes.partition_tokens", "PartitionTokensPass"),
    "shard-experts": ("passes.shard_experts", "ShardExpertsPass"),
    "order-loads": ("passes.order_loads", "OrderLoadsPass"),
    "distribute-slices": ("passes.distribute_slices", "DistributeSlicesPass"),
    "schedule-trajectories": ("passes.schedule_trajectories", "ScheduleTrajectoriesPass"),
    "virtualize": ("passes.virtualize", "VirtualizePass"),
    "place-experts": ("passes.place_experts", "PlaceExpertsPass"),
    "dispatch-tokens": ("passes.dispatch_tokens", "DispatchTokensPass"),
    "lower-to-cisa": ("passes.lower_to_cisa", "LowerToCisaPass"),
    "verify-programs": ("passes.verify_programs", "VerifyProgramsPass"),
    "program-form": ("passes.program_form", "ProgramFormPass"),
}

_FSEDP_COMMON = (
    "partition-tokens{policy=block},shard-experts{slices=0 min-slices=16 buffers=0},"
    "order-loads{order=ORDER},distribute-slices{mode=MODE},"
    "schedule-trajectories{shape=tree skip-idle=true entry=nearest-need},"
    "virtualize{slice-buffers=0 reserve=1},lower-to-cisa,verify-programs"
)
_EP_COMMON = (
    "partition-tokens{policy=block},place-experts{policy=POLICY},dispatch-tokens{schedule=ring},"
    "shard-experts{slices=0 min-slices=16 buffers=0},order-loads{order=paired},"
    "distribute-slices{mode=even},"
    "schedule-trajectories{shape=tree skip-idle=true entry=nearest-need},"
    "virtualize{slice-buffers=0 reserve=0},lower-to-cisa,verify-programs"
)

# The defaults of the options no strategy is defined by were chosen by the staged grid search of
# benchmarks/tune_defaults.py, the same search for every strategy (docs/compiler.md, "Choosing
# the defaults").
PIPELINES: dict[str, str] = {
    # micro-sliced experts streamed along trajectories; the ablation of paired loading: load
    # order by id, each expert's slices on one channel
    "fsedp": _FSEDP_COMMON.replace("ORDER", "id").replace("MODE", "per-expert"),
    # the paper's full scheme: paired loading (kept in step with DDR), slices dealt evenly over
    # the channels
    "fsedp-paired": _FSEDP_COMMON.replace("ORDER", "paired").replace("MODE", "even"),
    # expert parallelism: experts round-robin over the chiplets, tokens dispatched to them; each
    # home streams its experts' slices with the same loading machinery as FSE-DP
    "ep": _EP_COMMON.replace("POLICY", "round-robin"),
    # EP with popularity-aware placement (Hydra, DAC 2025)
    "hydra": _EP_COMMON.replace("POLICY", "hydra"),
}

PIPELINE_OPTIONS = ("verify",)


def pass_class(name: str) -> type[ModulePass]:
    module, cls = PASSES[name]
    return getattr(import_module(module), cls)


def compiler_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Lazy factories of our passes and named pipelines, for the `fsedp-opt` registry."""
    factories: dict[str, Callable[[], type[ModulePass]]] = {
        name: (lambda n=name: pass_class(n)) for name in PASSES
    }
    for name in PIPELINES:
        factories[name] = lambda n=name: STRATEGY_PASSES[n]
    return factories


# -- option mapping ---------------------------------------------------------------------------


def _params(value: object) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return (value,)


def _specs(name: str) -> list[ArgSpec]:
    return list(parse_pipeline(PIPELINES[name]))


def pipeline_option_names(name: str) -> list[str]:
    """Unqualified options of a pipeline, in pass order, then the pipeline's own."""
    names: list[str] = []
    for spec in _specs(name):
        for option in pass_class(spec.name).option_names():
            if option not in names:
                names.append(option)
    return names + list(PIPELINE_OPTIONS)


def _resolve(name: str, specs: list[ArgSpec], key: str) -> list[tuple[int, str]]:
    owners: list[tuple[int, str]] = []
    for index, spec in enumerate(specs):
        for option in pass_class(spec.name).option_names():
            if key.replace("_", "-") in (option, f"{spec.name}-{option}"):
                owners.append((index, option))
    if not owners:
        known = ", ".join(pipeline_option_names(name))
        raise FsedpError(
            f"{name}: unknown option '{key}'; options: {known} (or <pass>-<option>, "
            "e.g. shard-experts-slices)"
        )
    if len(owners) > 1:
        qualified = " or ".join(f"{specs[i].name}-{option}" for i, option in owners)
        raise FsedpError(f"{name}: option '{key}' is ambiguous; write {qualified}")
    return owners


def _check_strategy(name: str) -> None:
    if name not in PIPELINES:
        raise FsedpError(f"unknown strategy '{name}'; known: {', '.join(PIPELINES)}")


def option_target(name: str, key: str) -> tuple[int, str]:
    """(pass index, option) that option `key` of pipeline `name` sets, however it is spelled
    (`skip_idle`, `skip-idle`, `schedule-trajectories-skip-idle`); index -1 for `verify`."""
    _check_strategy(name)
    if key.replace("_", "-") in PIPELINE_OPTIONS:
        return -1, key.replace("_", "-")
    ((index, option),) = _resolve(name, _specs(name), key)
    return index, option


def merged_options(
    name: str, base: Mapping[str, object], top: Mapping[str, object]
) -> dict[str, object]:
    """`base` with `top` on top: an option of `top` replaces the same option of `base`, however
    either spells it (a file's `skip_idle` and `-p`'s `skip-idle` are one option)."""
    replaced = {option_target(name, key) for key in top}
    merged = {k: v for k, v in base.items() if option_target(name, k) not in replaced}
    return merged | dict(top)


def pipeline_passes(name: str, options: Mapping[str, object] | None = None) -> list[ModulePass]:
    """The passes of pipeline `name` with `options` applied (see the module docstring)."""
    _check_strategy(name)
    specs = _specs(name)
    parameters = [dict(spec.parameters) for spec in specs]
    verify = True
    given: dict[tuple[int, str], str] = {}
    for key, value in (options or {}).items():
        target = option_target(name, key)
        if target in given:  # two spellings of one option: neither may silently win
            raise FsedpError(f"{name}: option '{key}' is given twice, also as '{given[target]}'")
        given[target] = key
        index, option = target
        if index < 0:
            if not isinstance(value, bool):
                raise FsedpError(f"{name}: option 'verify' expects true or false, got {value}")
            verify = value
            continue
        parameters[index][option] = _params(value)
    passes = [
        pass_class(spec.name).from_spec(ArgSpec(spec.name, params))
        for spec, params in zip(specs, parameters, strict=True)
    ]
    return [p for p in passes if verify or p.name != "verify-programs"]


# -- the named pipelines as passes ------------------------------------------------------------


@dataclass(frozen=True)
class StrategyPipeline(ModulePass):
    """A named pipeline used as one pass: `-p 'fsedp{slices=8}'`.

    Applied to a module it runs its passes with the options of the module's `.moe` strategy
    block (when the block names this strategy) and then its own options on top.
    """

    name: ClassVar[str]

    options: tuple[tuple[str, tuple], ...] = ()

    @classmethod
    def from_spec(cls, spec: ArgSpec):
        options = tuple(spec.parameters.items())
        pipeline_passes(cls.name, _unwrapped(options))  # report bad options before any input
        return cls(options)

    def spec(self, *, include_default: bool = False) -> ArgSpec:
        return ArgSpec(self.name, dict(self.options))

    def expand(self, module: ModuleOp) -> list[ModulePass]:
        options = module_options(module) if module_strategy(module) == self.name else {}
        return pipeline_passes(
            self.name, merged_options(self.name, options, _unwrapped(self.options))
        )

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        run_passes(ctx, op, self.expand(op), strategy=self.name)


def _unwrapped(options: tuple[tuple[str, tuple], ...]) -> dict[str, object]:
    """Spec parameters (always tuples) as plain values: `(8,)` -> 8, `(1, 2)` -> [1, 2]."""
    return {key: values[0] if len(values) == 1 else list(values) for key, values in options}


def _strategy_pass(name: str) -> type[StrategyPipeline]:
    cls = type(name.title().replace("-", "") + "Pipeline", (StrategyPipeline,), {"name": name})
    return dataclass(frozen=True)(cls)


STRATEGY_PASSES: dict[str, type[StrategyPipeline]] = {n: _strategy_pass(n) for n in PIPELINES}


def expand_pipelines(
    passes: tuple[ModulePass, ...], module: ModuleOp
) -> list[tuple[str | None, list[ModulePass]]]:
    """`passes` in groups: each named pipeline (its name and its passes for `module`), each
    other pass alone (None and the pass)."""
    return [
        (p.name, p.expand(module)) if isinstance(p, StrategyPipeline) else (None, [p])
        for p in passes
    ]


def run_passes(
    ctx: Context,
    module: ModuleOp,
    passes: list[ModulePass],
    *,
    verify_ir: bool = True,
    strategy: str | None = None,
) -> None:
    """Apply `passes` in order, verifying the module after each one that changes it; when they
    are the pipeline of `strategy`, record what ran (`record_strategy`).

    `verify_ir=False` skips xDSL's structural verifier after `lower-to-cisa` only: there it
    re-checks tens of thousands of ops the lowering has just built through the typed op
    constructors, and takes half the compile time. `verify-programs` still checks them.
    """
    resolved: list[dict[str, object]] = []
    with paused_gc():
        for p in passes:
            p.apply(ctx, module)
            resolved.append(resolved_options_of(p, module))
            if changes_ir(p) and (verify_ir or p.name != "lower-to-cisa"):
                module.verify()
    if strategy is not None:
        record_strategy(module, strategy, passes, resolved)


def resolved_options_of(p: ModulePass, module: ModuleOp) -> dict[str, object]:
    """The options `p` ran with, read right after it ran (automatic choices resolved)."""
    return p.resolved_options(module) if p.name in PASSES else {}


def resolved_options(
    name: str, passes: list[ModulePass], resolved: list[dict[str, object]]
) -> dict[str, object]:
    """Every option of pipeline `name` as it ran: the value of each pass's option, automatic
    choices (`slices=0`, `slice-buffers=0`, ...) replaced by what the pass chose (`resolved`,
    one dictionary per pass, from `resolved_options_of`). Keys are the names `pipeline_passes`
    accepts: unqualified where one pass has the option, else `<pass>-<option>`; plus `verify`."""
    specs = _specs(name)
    owners: dict[str, int] = {}
    for spec in specs:
        for option in pass_class(spec.name).option_names():
            owners[option] = owners.get(option, 0) + 1
    values: dict[str, object] = {}
    for p, options in zip(passes, resolved, strict=True):
        for option, value in options.items():
            key = option if owners.get(option, 0) == 1 else f"{p.name}-{option}"
            values[key] = value
    values["verify"] = any(p.name == "verify-programs" for p in passes)
    return values


def record_strategy(
    module: ModuleOp, name: str, passes: list[ModulePass], resolved: list[dict[str, object]]
) -> None:
    """Write what ran onto the module: `fsedp.strategy` (the pipeline) and
    `fsedp.strategy_options` (every option as resolved, see `resolved_options`), replacing what
    the input declared. Manifests, reports and `fsedp-sim` on the lowered IR read them."""
    record(module, name, resolved_options(name, passes, resolved))


def changes_ir(p: ModulePass) -> bool:
    """Whether `p` may change the module; the xDSL verifier need not run again after one that
    does not (a pass that declares `reads_only`, such as `verify-programs`)."""
    return not getattr(p, "reads_only", False)


def compile_module(
    module: ModuleOp,
    strategy: str | None = None,
    overrides: Mapping[str, object] | None = None,
    *,
    verify_ir: bool = True,
) -> ModuleOp:
    """Compile `module` (a `moe.layer` plus its `chiplet.system`) in place and return it.

    `strategy` None means the module's `fsedp.strategy`, else `fsedp-paired`. Options come from
    the module's `fsedp.strategy_options` (only when it declares this same strategy), then
    `overrides` on top, mapped onto the passes as described in the module docstring. The result
    keeps the `moe.layer` and the system, adds the plan ops and one `cisa.program` per chiplet,
    has been verified by `verify-programs` (unless `verify=False`) and by xDSL (the lowered
    programs only when `verify_ir`, see `run_passes`).
    """
    declared = module_strategy(module)
    name = strategy or declared or DEFAULT_STRATEGY
    options = module_options(module) if declared == name else {}
    passes = pipeline_passes(name, merged_options(name, options, overrides or {}))
    run_passes(Context(), module, passes, verify_ir=verify_ir, strategy=name)
    return module


def describe_pipelines() -> str:
    """The pass list of every named pipeline, one per line (for docs and `--help`)."""
    return "\n".join(f"{name}: {spec}" for name, spec in PIPELINES.items())


def compile_if_needed(
    module: ModuleOp,
    strategy: str | None = None,
    *,
    verify_ir: bool = True,
    execution_check: bool = True,
) -> ModuleOp:
    """Compile a module that has a `moe.layer` but no `cisa.program` yet (`compile_module`,
    with `strategy` or the module's own); return the module. What reads programs (`fsedp-sim`,
    `-t sim-report`, `-t cisa-asm`) calls this first, so a `.moe` file works everywhere.

    `execution_check=False` compiles with `verify-programs{deadlock=false}` unless the module's
    own options set `deadlock`: the simulator, which executes the programs itself (and reports
    a deadlock with each chiplet's blocked instruction), skips the untimed execution that proves
    them right under every timing; every other check of `verify-programs` still runs.

    A module that is already lowered is checked by `verify-programs` (the untimed execution
    only with `execution_check`) and returned as it is; `strategy` on it is an error: it would
    not be applied.
    """
    from backends.sim.program import find_ops

    programs, layers = find_ops(module)
    if programs:
        if strategy is not None:  # a usage error: the caller asked for what cannot apply
            from fsedp_compiler.cli_common import UsageError

            raise UsageError(
                "the input is already lowered to cisa programs; --strategy applies to .moe input "
                "(or moe-level IR) only"
            )
        if layers:
            # Programs read from a file: checked against their layer as the pipelines check
            # what they lower (bytes and ops of each slice, coverage, SRAM), before anything
            # takes their numbers for timing.
            from passes.verify_programs import VerifyProgramsPass

            VerifyProgramsPass(deadlock=execution_check).apply(Context(), module)
        return module
    if not layers:
        raise FsedpError("the module holds neither cisa.program ops nor a moe.layer to compile")
    _refuse_partial_plan(module)
    declared = module_strategy(module)
    name = strategy or declared or DEFAULT_STRATEGY
    options = module_options(module) if declared == name else {}
    overrides = {} if execution_check or "deadlock" in options else {"deadlock": False}
    return compile_module(module, strategy=strategy, overrides=overrides, verify_ir=verify_ir)


def _refuse_partial_plan(module: ModuleOp) -> None:
    """A module some passes have planned but none has lowered: compiling it again from its layer
    would drop what those passes (and their options) decided, so say so instead."""
    from passes.lower_to_cisa import PLAN_OPS

    planned = sorted({op.name for op in module.body.block.ops if op.name in PLAN_OPS})
    if planned:
        raise FsedpError(
            f"the module is partly compiled: it holds {', '.join(planned)} but no cisa.program; "
            "run the rest of the pipeline through lower-to-cisa in -p, or name a strategy "
            "(-p 'fsedp{slices=2}') to compile the layer from the start"
        )


__all__ = [
    "PIPELINES",
    "STRATEGY_PASSES",
    "StrategyPipeline",
    "compile_if_needed",
    "compile_module",
    "pipeline_passes",
]
