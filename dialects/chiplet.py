"""The `chiplet` dialect: the machine, and where weights and tokens go on it.

The machine is described by one `#chiplet.system<...>` attribute, attached to the module as
`chiplet.system`, so that every pass and test is a pure function of its input file. Chiplets are
named by their row-major id `row * cols + col` on the `rows x cols` grid.

```mlir
builtin.module attributes {chiplet.system = #chiplet.system<"paper-2x2", rows 2, cols 2,
    clock_ghz 0.8, ops_per_cycle 2048, sram_bytes 8388608,
    ddr [25.6 at 0, 25.6 at 1, 25.6 at 3, 25.6 at 2], d2d_gbps 288.0, hop_latency_cycles 10,
    element_bytes 1, slice_buffers 12>} {
  chiplet.partition policy "block" owners array<i64: 0, 1, 2, 3>
  chiplet.expert 1 slices 2 bytes 192 tokens 3 {order = array<i64: 4, 6>,
      channels = array<i64: 0, 2>, stops = [array<i64: 0, 1, 2>, array<i64: 2, 0, 1>],
      parents = [array<i64: -1, 0, 0>, array<i64: -1, 2, 2>]}
  chiplet.buffers slots 9 reserve 1 bytes 192
}
```

The attribute's fields, their units, ranges and text are those of the field table,
`SYSTEM_FIELDS` in `dialects/machine.py`: the system's name, then `FIELD VALUE` pairs (any order
when read, table order when printed). `topology` and `links` may be left out (a mesh without
listed links) and are printed only when they differ from that:
`#chiplet.system<"pkg", rows 1, cols 3, topology custom, ..., links [0-1, 1-2 at 144.0], ...>`.

The ops are the plan the passes build before lowering (docs/compiler.md says which pass writes
what):

- `chiplet.partition`: the chiplet that holds each token (data parallelism, R2);
- `chiplet.expert`: one expert cut into micro-slices (R1), annotated by later passes with each
  slice's load order, DDR channel and trajectory (`stops`, and `parents` for trees);
- `chiplet.placement`, `chiplet.dispatch`: expert parallelism's homes and token exchanges;
- `chiplet.buffers`: the weight buffers of every chiplet (R4).
"""

from __future__ import annotations

from xdsl.dialects.builtin import (
    I64,
    ArrayAttr,
    DenseArrayBase,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation, ParametrizedAttribute
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    opt_prop_def,
    prop_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from dialects._syntax import checked_parameters, end_of_parsed, print_fields
from dialects.interconnect import Interconnect
from dialects.machine import SYSTEM_FIELDS, MachineError, SystemSpec, validate_system

SYSTEM_ATTR_NAME = "chiplet.system"


def _parameter_types() -> dict[str, type[Attribute]]:
    """The attribute's parameters: the machine's name, then one per field of the table."""
    fields = {name: field.kind.attr_type for name, field in SYSTEM_FIELDS.items()}
    return {"system_name": StringAttr, **fields}


@irdl_attr_definition(init=False)
class SystemAttr(ParametrizedAttribute):
    """A multi-chiplet machine: its name and one parameter per field of `SYSTEM_FIELDS`
    (`dialects/machine.py`), in table order. Built from and read as a `SystemSpec`."""

    name = "chiplet.system"

    __annotations__ = _parameter_types()

    def __init__(self, spec: SystemSpec):
        super().__init__(*_parameters(spec))

    # -- syntax -------------------------------------------------------------------------------

    @classmethod
    def parse_parameters(cls, parser: AttrParser):
        """`<"NAME", FIELD VALUE, ...>`: every field once, in any order; optional fields may be
        left out (they take their default)."""
        start = parser.pos
        with parser.in_angle_brackets():
            system_name = parser.parse_str_literal(" for the system name")
            values: dict[str, object] = {}
            while parser.parse_optional_punctuation(","):
                _parse_field(parser, values)
        missing = [n for n, f in SYSTEM_FIELDS.items() if n not in values and not f.optional]
        if missing:
            parser.raise_error(
                "the system lacks the field(s) " + ", ".join(missing),
                start,
                end_of_parsed(parser, start),
            )
        spec = SystemSpec(name=system_name, **values)
        return checked_parameters(cls, parser, start, _parameters(spec))

    def print_parameters(self, printer: Printer) -> None:
        spec = self.spec
        fields = [
            (name, field.kind.text(getattr(spec, name)))
            for name, field in SYSTEM_FIELDS.items()
            if not field.optional or getattr(spec, name) != field.default
        ]
        with printer.in_angle_brackets():
            printer.print_string_literal(spec.name)
            printer.print_string(", ")
            print_fields(printer, fields)

    # -- meaning ------------------------------------------------------------------------------

    def verify(self) -> None:
        try:
            validate_system(self.spec)
        except MachineError as error:
            raise VerifyException(str(error)) from None

    @property
    def spec(self) -> SystemSpec:
        """The machine as plain values (made once per attribute)."""
        if "_spec" not in self.__dict__:
            values = {
                name: field.kind.from_attr(getattr(self, name))
                for name, field in SYSTEM_FIELDS.items()
            }
            self.__dict__["_spec"] = SystemSpec(name=self.system_name.data, **values)
        return self.__dict__["_spec"]

    @property
    def interconnect(self) -> Interconnect:
        """The D2D links as a graph, with hop distances and routes (made once per attribute)."""
        if "_interconnect" not in self.__dict__:
            self.__dict__["_interconnect"] = Interconnect(self.spec)
        return self.__dict__["_interconnect"]

    @property
    def num_chiplets(self) -> int:
        return self.rows.data * self.cols.data

    def with_sram(self, sram_bytes: int) -> SystemAttr:
        """The same machine with `sram_bytes` of SRAM per chiplet."""
        return SystemAttr(self.spec.replace(sram_bytes=sram_bytes))

    def coords(self, chiplet: int) -> tuple[int, int]:
        """(row, column) of a chiplet on the grid."""
        return divmod(chiplet, self.cols.data)

    def hops(self, src: int, dst: int) -> int:
        """D2D links crossed on a shortest path from `src` to `dst` (`dialects/interconnect.py`)."""
        return self.interconnect.distances[src][dst]


def _parameters(spec: SystemSpec) -> tuple[Attribute, ...]:
    values = (field.kind.to_attr(getattr(spec, name)) for name, field in SYSTEM_FIELDS.items())
    return (StringAttr(spec.name), *values)


def _parse_field(parser: AttrParser, values: dict[str, object]) -> None:
    """One `FIELD VALUE` pair into `values`; an unknown or repeated field is an error there."""
    start = parser.pos
    key = parser.parse_identifier(context_msg=" (a system field)")
    if key not in SYSTEM_FIELDS:
        known = ", ".join(SYSTEM_FIELDS)
        parser.raise_error(f"unknown system field '{key}'; fields: {known}", start, parser.pos)
    if key in values:
        parser.raise_error(f"system field '{key}' given twice", start, parser.pos)
    values[key] = SYSTEM_FIELDS[key].kind.read(parser)


def system_of(op: Operation) -> SystemAttr | None:
    """The `chiplet.system` attribute of the module enclosing `op`, if any."""
    current: Operation | None = op
    while current is not None:
        if isinstance(current, ModuleOp):
            attr = current.attributes.get(SYSTEM_ATTR_NAME)
            if attr is not None:
                return attr if isinstance(attr, SystemAttr) else None
        current = current.parent_op()
    return None


def check_chiplet(op: Operation, chiplet: int, what: str) -> None:
    """Raise unless `chiplet` is a chiplet of the machine of `op`'s module (if it has a system)."""
    if chiplet < 0:
        raise VerifyException(f"{what} {chiplet} is negative")
    system = system_of(op)
    if system is not None and chiplet >= system.num_chiplets:
        last, shape = system.num_chiplets - 1, f"{system.rows.data}x{system.cols.data}"
        raise VerifyException(
            f"{what} {chiplet} is not a chiplet of the machine (chiplets 0..{last}, {shape})"
        )


def _int(attr: Attribute) -> int:
    assert isinstance(attr, IntegerAttr)
    return attr.value.data


def _i64_array(values) -> DenseArrayBase:
    return DenseArrayBase.from_list(i64, list(values))


# The plan's integer arrays are i64: another width (array<i65: ...>) has no values xDSL can read.
_I64_ARRAY = DenseArrayBase.constr(i64)


def _array_values(op: Operation, name: str) -> tuple[int, ...] | None:
    attr = op.attributes.get(name)
    return None if attr is None else _i64_values(attr, f"'{name}'")


def _i64_values(attr: Attribute, what: str) -> tuple[int, ...]:
    # against xDSL's one i64 (making an IntegerType per check cost 25 us each)
    if not isinstance(attr, DenseArrayBase) or attr.elt_type != i64:
        raise VerifyException(f"{what} must be an array<i64: ...>, got {attr}")
    return attr.get_values()


@irdl_op_definition
class PartitionOp(IRDLOperation):
    """Data-parallel token placement (R2): `owners[t]` is the chiplet holding token t."""

    name = "chiplet.partition"

    policy = prop_def(StringAttr)
    owners = prop_def(_I64_ARRAY)

    assembly_format = "`policy` $policy `owners` qualified($owners) attr-dict"

    def __init__(self, policy: str, owners: list[int]):
        super().__init__(properties={"policy": StringAttr(policy), "owners": _i64_array(owners)})

    def verify_(self) -> None:
        for chiplet in set(self.owners.get_values()):
            check_chiplet(self, chiplet, "token owner chiplet")


@irdl_op_definition
class ExpertOp(IRDLOperation):
    """One expert cut into `slices` micro-slices of at most `bytes` bytes (R1); `tokens` is the
    number of tokens that use it. Later passes annotate it with per-slice arrays:
    `channels` (DDR channel of each slice), `order` (position of each slice in the global load
    order), `stops` (the trajectory of each slice, an array of chiplet arrays) and `parents`
    (for trees: the chiplet each stop receives from). Under expert parallelism a home that
    serves its tokens in rounds loads the expert once per round it is used in: `rounds` lists
    them, and the per-slice arrays then hold `slices` entries per round, round after round."""

    name = "chiplet.expert"

    expert = prop_def(IntegerAttr[I64])
    slices = prop_def(IntegerAttr[I64])
    bytes = prop_def(IntegerAttr[I64])
    tokens = prop_def(IntegerAttr[I64])

    assembly_format = "$expert `slices` $slices `bytes` $bytes `tokens` $tokens attr-dict"

    def __init__(self, expert: int, slices: int, bytes: int, tokens: int):
        super().__init__(
            properties={
                "expert": IntegerAttr(expert, 64),
                "slices": IntegerAttr(slices, 64),
                "bytes": IntegerAttr(bytes, 64),
                "tokens": IntegerAttr(tokens, 64),
            }
        )

    def verify_(self) -> None:
        slices = _int(self.slices)
        if _int(self.expert) < 0 or slices <= 0 or _int(self.bytes) <= 0:
            raise VerifyException("expert id must be >= 0, slices and bytes positive")
        rounds = _array_values(self, "rounds")
        if rounds is not None and (not rounds or list(rounds) != sorted(set(rounds))):
            raise VerifyException(f"'rounds' must list distinct rounds in order, got {rounds}")
        count = slices * (len(rounds) if rounds is not None else 1)
        for name in ("channels", "order"):
            values = _array_values(self, name)
            if values is not None and len(values) != count:
                raise VerifyException(f"'{name}' lists {len(values)} values for {count} slices")
        self._verify_channels()
        stops = self.attributes.get("stops")
        if stops is None:
            return
        if not isinstance(stops, ArrayAttr) or len(stops.data) != count:
            raise VerifyException(f"'stops' must be an array of {count} chiplet arrays")
        paths = []
        system = system_of(self)  # once: looking it up per stop cost seconds on large plans
        mesh = system.num_chiplets if system is not None else None
        for trajectory in stops.data:
            chiplets = _i64_values(trajectory, "a trajectory in 'stops'")
            if not chiplets or len(set(chiplets)) != len(chiplets):
                raise VerifyException(f"a trajectory needs distinct stops, got {trajectory}")
            if min(chiplets) < 0 or (mesh is not None and max(chiplets) >= mesh):
                for chiplet in chiplets:  # the first one out, said as everywhere else
                    check_chiplet(self, chiplet, "stop chiplet")
            paths.append(chiplets)
        self._verify_parents(paths)

    def _verify_channels(self) -> None:
        channels = _array_values(self, "channels")
        system = system_of(self)
        for channel in channels or ():
            count = len(system.spec.ddr) if system is not None else None
            if channel < 0 or (count is not None and channel >= count):
                have = f"; the system has {count} (0..{count - 1})" if count else ""
                raise VerifyException(f"a slice's DDR channel {channel} does not exist{have}")

    def _verify_parents(self, paths: list[tuple[int, ...]]) -> None:
        """A tree's `parents`: per slice, one per stop, -1 for the entry (the first stop), and
        for every other stop an earlier stop of its trajectory, which forwards it the slice."""
        parents = self.attributes.get("parents")
        if parents is None:
            return
        if not isinstance(parents, ArrayAttr) or len(parents.data) != len(paths):
            raise VerifyException(f"'parents' must be an array of {len(paths)} chiplet arrays")
        for slice_, (stops, attr) in enumerate(zip(paths, parents.data, strict=True)):
            values = _i64_values(attr, f"slice {slice_}: 'parents'")
            if len(values) != len(stops):
                raise VerifyException(
                    f"slice {slice_}: 'parents' must list {len(stops)} chiplets, one per stop"
                )
            if values[0] != -1:
                raise VerifyException(
                    f"slice {slice_}: the entry stop {stops[0]} has parent {values[0]}, not -1"
                )
            position = {chiplet: k for k, chiplet in enumerate(stops)}
            for k in range(1, len(stops)):
                if position.get(values[k], k) >= k:  # not an earlier stop
                    raise VerifyException(
                        f"slice {slice_}: stop {stops[k]} receives from {values[k]}, which is "
                        f"not an earlier stop of its trajectory {list(stops)}"
                    )


@irdl_op_definition
class PlacementOp(IRDLOperation):
    """Expert parallelism: `homes[e]` is the chiplet that holds and computes expert e."""

    name = "chiplet.placement"

    policy = prop_def(StringAttr)
    homes = prop_def(_I64_ARRAY)

    assembly_format = "`policy` $policy `homes` qualified($homes) attr-dict"

    def __init__(self, policy: str, homes: list[int]):
        super().__init__(properties={"policy": StringAttr(policy), "homes": _i64_array(homes)})

    def verify_(self) -> None:
        for chiplet in set(self.homes.get_values()):
            check_chiplet(self, chiplet, "home chiplet")


@irdl_op_definition
class DispatchOp(IRDLOperation):
    """Expert parallelism: chiplet `from` sends the vectors of `tokens` to chiplet `to`, which
    computes its experts on them and returns one combined partial output per token. A home
    that cannot hold all the tokens it serves at once serves them in rounds: `round` (0 when
    absent) says in which."""

    name = "chiplet.dispatch"

    src = prop_def(IntegerAttr[I64], prop_name="from")
    dst = prop_def(IntegerAttr[I64], prop_name="to")
    tokens = prop_def(_I64_ARRAY)
    round = opt_prop_def(IntegerAttr[I64])

    assembly_format = (
        "`from` $from `to` $to `tokens` qualified($tokens) (`round` $round^)? attr-dict"
    )

    def __init__(self, src: int, dst: int, tokens: list[int], round: int = 0):
        properties = {
            "from": IntegerAttr(src, 64),
            "to": IntegerAttr(dst, 64),
            "tokens": _i64_array(tokens),
        }
        if round:
            properties["round"] = IntegerAttr(round, 64)
        super().__init__(properties=properties)

    @property
    def round_index(self) -> int:
        return 0 if self.round is None else _int(self.round)

    def verify_(self) -> None:
        src, dst = _int(self.src), _int(self.dst)
        check_chiplet(self, src, "source chiplet")
        check_chiplet(self, dst, "destination chiplet")
        if src == dst:
            raise VerifyException(f"a dispatch needs two different chiplets, got {src} twice")
        if not len(self.tokens):
            raise VerifyException("a dispatch needs at least one token")
        if self.round_index < 0:
            raise VerifyException(f"round must be >= 0, got {self.round_index}")


@irdl_op_definition
class BuffersOp(IRDLOperation):
    """The physical weight buffers of every chiplet: `slots` buffers of `bytes` bytes; a DDR
    load leaves `reserve` of them free for D2D arrivals (R4)."""

    name = "chiplet.buffers"

    slots = prop_def(IntegerAttr[I64])
    reserve = prop_def(IntegerAttr[I64])
    bytes = prop_def(IntegerAttr[I64])

    assembly_format = "`slots` $slots `reserve` $reserve `bytes` $bytes attr-dict"

    def __init__(self, slots: int, reserve: int, bytes: int):
        super().__init__(
            properties={
                "slots": IntegerAttr(slots, 64),
                "reserve": IntegerAttr(reserve, 64),
                "bytes": IntegerAttr(bytes, 64),
            }
        )

    def verify_(self) -> None:
        slots, reserve = _int(self.slots), _int(self.reserve)
        if slots <= 0 or not 0 <= reserve < slots:
            raise VerifyException(f"need slots > reserve >= 0, got slots {slots} reserve {reserve}")


Chiplet = Dialect(
    "chiplet",
    [
        PartitionOp,
        ExpertOp,
        PlacementOp,
        DispatchOp,
        BuffersOp,
    ],
    [SystemAttr],
)
