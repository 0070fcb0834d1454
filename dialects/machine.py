"""The machine description: one table of hardware fields, and the machine it describes.

Every hardware field of a machine is one row of `SYSTEM_FIELDS`: its name, unit, default (the
`paper-2x2` preset's value), valid range, meaning and source. Everything that describes a
machine is derived from this table:

- `SystemSpec`, the machine as plain Python values, and its validation (`validate_system`);
- the `#chiplet.system<...>` attribute's parameters and text form (`dialects/chiplet.py`);
- the fields of a `.moe` file's `system` block and their errors (`fsedp_compiler/frontend.py`);
- the presets (`fsedp_compiler/presets.py`: the table's defaults, with per-size overrides);
- the simulator's `Machine` (`backends/sim/machine.py`);
- the README's hardware table, which `tests/test_docs.py` checks against this one.

Adding a field is a row here, a row in README's table, and the code that uses it. Make a new
field `optional`, with the value every machine had before as its default: then existing `.moe`
and IR files stay valid and print as before, and the IR shows the field only where it differs.

The table lives among the dialects because the attribute is built from it and dialects import
nothing from passes, backends or `fsedp_compiler`; `fsedp_compiler/limits.py` and `presets.py`
read their system limits and defaults from here.

Each field's value has a `Kind` that knows how it is written (in `.moe` and in the IR), stored in
the attribute, and checked. Chiplets are numbered row-major on the `rows x cols` grid
(`id = row * cols + col`), whatever the topology; the D2D links the topology gives are built by
`undirected_links` (routes and distances: `dialects/interconnect.py`).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, NamedTuple

import networkx as nx
from xdsl.dialects.builtin import ArrayAttr, FloatData, IntAttr, StringAttr
from xdsl.ir import Attribute
from xdsl.parser import AttrParser

from dialects._syntax import format_float


class MachineError(ValueError):
    """A value that cannot describe a machine. The message names the field as `'name'`, or a
    list entry as `'name[i]'`, so that the `.moe` front end can point at what was written."""


class DdrChannel(NamedTuple):
    """One off-chip DDR channel: its bandwidth in GB/s (1e9 B/s) and the row-major id of the
    chiplet it is attached to (slices loaded through it enter the interconnect there)."""

    gbps: float
    chiplet: int


class Link(NamedTuple):
    """One bidirectional D2D link between chiplets `a` and `b` (a link each way, each with the
    full bandwidth); `gbps` None means the system's `d2d_gbps`."""

    a: int
    b: int
    gbps: float | None = None


def is_int(value: object) -> bool:
    """An integer, Python's or numpy's; not a bool (`rows=True` is a mistake, not a size)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return is_int(value) or isinstance(value, float)


def show_number(value: float) -> str:
    """A range bound as the README writes it: 2^k for large powers of two (sizes), 10^k for
    large powers of ten (rates), an integral float without its `.0`."""
    if is_int(value) and value >= 2**16 and value & (value - 1) == 0:
        return f"2^{int(value).bit_length() - 1}"
    if value >= 10_000 and value == 10 ** round(math.log10(value)):
        return f"10^{round(math.log10(value))}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _field_error(name: str, message: str, what: str = "system") -> MachineError:
    return MachineError(f"{what} field '{name}' {message}")


def check_int(
    name: str, value: object, low: int, high: int | None, unit: str, what: str = "system"
) -> None:
    """An integer in [low, high] (no upper end for None); `what` field `name` in messages."""
    if not is_int(value):
        raise _field_error(name, f"must be an integer, got {value!r}", what)
    if value < low:  # type: ignore[operator]
        bound = "positive" if low == 1 else f">= {low}"
        raise _field_error(name, f"must be {bound}, got {value}", what)
    if high is not None and value > high:  # type: ignore[operator]
        limit = f"{high} {unit}" if unit else str(high)
        raise _field_error(
            name, f"is {value}, more than the limit of {limit} (README: Limits)", what
        )


def _check_real(name: str, value: object, low: float, high: float, unit: str) -> None:
    """A finite number within [low, high]; integers compare exactly, however large."""
    if not is_number(value):
        raise _field_error(name, f"must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise _field_error(name, f"must be finite, got {value}")
    if not low <= value <= high:  # type: ignore[operator]
        raise _field_error(
            name, f"is {value}, outside the range {low} to {high} {unit} (README: Limits)"
        )


# -- kinds of field ----------------------------------------------------------------------------


class Kind:
    """How the values of one kind of field are written, stored and checked.

    `expects` says what a value must be, for messages. `from_moe` turns a value as the `.moe`
    front end read it (numbers, strings, lists of `DdrChannel` or `Link`) into the stored type,
    or None when it is of the wrong type. `check` raises MachineError for a value out of range
    (`spec` holds the fields before this one, already checked). `to_attr`/`from_attr` convert
    to and from the attribute parameter of type `attr_type`; `text` and `read` are the IR text
    form; `range_text` is the README's range cell."""

    expects: str
    attr_type: type[Attribute]
    python_type: type

    def from_moe(self, value: Any) -> Any:
        raise NotImplementedError

    def check(self, name: str, unit: str, value: Any, spec: Any) -> None:
        raise NotImplementedError

    def to_attr(self, value: Any) -> Attribute:
        raise NotImplementedError

    def from_attr(self, attr: Any) -> Any:
        raise NotImplementedError

    def text(self, value: Any) -> str:
        raise NotImplementedError

    def read(self, parser: AttrParser) -> Any:
        raise NotImplementedError

    def range_text(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Int(Kind):
    """An integer in [low, high]."""

    low: int
    high: int
    expects = "an integer"
    attr_type = IntAttr
    python_type = int

    def from_moe(self, value: Any) -> Any:
        return value if is_int(value) else None

    def check(self, name: str, unit: str, value: Any, spec: Any) -> None:
        check_int(name, value, self.low, self.high, unit)

    def to_attr(self, value: Any) -> Attribute:
        return IntAttr(int(value))

    def from_attr(self, attr: Any) -> Any:
        return attr.data

    def text(self, value: Any) -> str:
        return str(value)

    def read(self, parser: AttrParser) -> Any:
        return parser.parse_integer(allow_boolean=False, context_msg=" (an integer)")

    def range_text(self) -> str:
        return f"{show_number(self.low)} to {show_number(self.high)}"


@dataclass(frozen=True)
class Real(Kind):
    """A finite number in [low, high], stored as a float (written `25` or `25.0`)."""

    low: float
    high: float
    expects = "a number"
    attr_type = FloatData
    python_type = float

    def from_moe(self, value: Any) -> Any:
        if not is_number(value):
            return None
        try:
            return float(value)
        except OverflowError:  # an integer beyond the float range: check() reports it exactly
            return value

    def check(self, name: str, unit: str, value: Any, spec: Any) -> None:
        _check_real(name, value, self.low, self.high, unit)

    def to_attr(self, value: Any) -> Attribute:
        return FloatData(float(value))

    def from_attr(self, attr: Any) -> Any:
        return attr.data

    def text(self, value: Any) -> str:
        return format_float(value)

    def read(self, parser: AttrParser) -> Any:
        return float(parser.parse_number())

    def range_text(self) -> str:
        return f"{show_number(self.low)} to {show_number(self.high)}"


@dataclass(frozen=True)
class Choice(Kind):
    """One of a few names (written bare: `topology torus`)."""

    options: tuple[str, ...]
    attr_type = StringAttr
    python_type = str

    @property
    def expects(self) -> str:  # type: ignore[override]
        return "one of " + ", ".join(self.options)

    def from_moe(self, value: Any) -> Any:
        return value if isinstance(value, str) else None

    def check(self, name: str, unit: str, value: Any, spec: Any) -> None:
        if value not in self.options:
            raise _field_error(name, f"must be {self.expects}, got {value!r}")

    def to_attr(self, value: Any) -> Attribute:
        return StringAttr(value)

    def from_attr(self, attr: Any) -> Any:
        return attr.data

    def text(self, value: Any) -> str:
        return value

    def read(self, parser: AttrParser) -> Any:
        return parser.parse_identifier(context_msg=f" ({self.expects})")

    def range_text(self) -> str:
        return ", ".join(self.options[:-1]) + " or " + self.options[-1]


def _chiplet_on_grid(name: str, chiplet: object, spec: Any) -> None:
    """A chiplet id: an integer in 0 .. rows * cols - 1."""
    count = spec.rows * spec.cols
    if not is_int(chiplet):
        raise _field_error(name, f"must name a chiplet by its integer id, got {chiplet!r}")
    if not 0 <= chiplet < count:  # type: ignore[operator]
        raise _field_error(
            name,
            f"names chiplet {chiplet}, which is not on the {spec.rows}x{spec.cols} grid "
            f"(chiplet ids 0..{count - 1})",
        )


@dataclass(frozen=True)
class Channels(Kind):
    """DDR channels, written `[GBPS at CHIPLET, ...]`: 1 to `most` of them, each `gbps` in
    range and attached to a chiplet of the grid."""

    most: int
    gbps: tuple[float, float]
    expects = "a list of channels such as [25.6 at 0, 25.6 at 3] (GB/s at chiplet)"
    attr_type = ArrayAttr
    python_type = tuple

    def from_moe(self, value: Any) -> Any:
        ok = isinstance(value, list) and all(isinstance(c, DdrChannel) for c in value)
        return tuple(value) if ok else None

    def check(self, name: str, unit: str, value: Any, spec: Any) -> None:
        if not isinstance(value, tuple) or not all(isinstance(c, DdrChannel) for c in value):
            raise _field_error(name, f"must be a tuple of DdrChannel, got {value!r}")
        if not value:
            raise _field_error(name, "needs at least one DDR channel, got none")
        if len(value) > self.most:
            raise _field_error(
                name,
                f"has {len(value)} channels, more than the limit of {self.most} (README: Limits)",
            )
        for index, channel in enumerate(value):
            where = f"{name}[{index}]"
            _check_real(f"{where}.gbps", channel.gbps, *self.gbps, "GB/s (1e9 B/s)")
            _chiplet_on_grid(where, channel.chiplet, spec)

    def to_attr(self, value: Any) -> Attribute:
        return ArrayAttr([ArrayAttr([FloatData(float(g)), IntAttr(c)]) for g, c in value])

    def from_attr(self, attr: Any) -> Any:
        return tuple(DdrChannel(g.data, c.data) for g, c in (pair.data for pair in attr.data))

    def text(self, value: Any) -> str:
        return "[" + ", ".join(f"{format_float(g)} at {c}" for g, c in value) + "]"

    def read(self, parser: AttrParser) -> Any:
        def channel() -> DdrChannel:
            gbps = float(parser.parse_number())
            parser.parse_keyword("at", " between a DDR channel's GB/s and its chiplet")
            return DdrChannel(gbps, parser.parse_integer(allow_boolean=False))

        return tuple(parser.parse_comma_separated_list(parser.Delimiter.SQUARE, channel))

    def range_text(self) -> str:
        low, high = (show_number(g) for g in self.gbps)
        return f"1 to {self.most} channels, each {low} to {high} GB/s at a chiplet of the grid"


@dataclass(frozen=True)
class Links(Kind):
    """Bidirectional D2D links, written `[A-B, A-B at GBPS, ...]` (without `at`, a link has
    `d2d_gbps`): up to `most` of them, each between two different chiplets of the grid, each
    pair once (`0-1` and `1-0` are the same link)."""

    most: int
    gbps: tuple[float, float]
    expects = "a list of links such as [0-1, 1-3 at 144] (chiplet-chiplet, optionally at GB/s)"
    attr_type = ArrayAttr
    python_type = tuple

    def from_moe(self, value: Any) -> Any:
        ok = isinstance(value, list) and all(isinstance(link, Link) for link in value)
        return tuple(value) if ok else None

    def check(self, name: str, unit: str, value: Any, spec: Any) -> None:
        if not isinstance(value, tuple) or not all(isinstance(x, Link) for x in value):
            raise _field_error(name, f"must be a tuple of Link, got {value!r}")
        if len(value) > self.most:
            raise _field_error(
                name, f"has {len(value)} links, more than the limit of {self.most} (README: Limits)"
            )
        seen: dict[frozenset[int], int] = {}
        for index, link in enumerate(value):
            where = f"{name}[{index}]"
            _chiplet_on_grid(where, link.a, spec)
            _chiplet_on_grid(where, link.b, spec)
            if link.a == link.b:
                raise _field_error(where, f"links chiplet {link.a} to itself")
            if link.gbps is not None:
                _check_real(f"{where}.gbps", link.gbps, *self.gbps, "GB/s (1e9 B/s)")
            pair = frozenset((link.a, link.b))
            if pair in seen:
                raise _field_error(
                    where,
                    f"repeats the link {link.a}-{link.b} of {name}[{seen[pair]}]; a link goes "
                    "both ways, so list it once",
                )
            seen[pair] = index

    def to_attr(self, value: Any) -> Attribute:
        def one(link: Link) -> Attribute:
            ends = [IntAttr(link.a), IntAttr(link.b)]
            return ArrayAttr(ends if link.gbps is None else [*ends, FloatData(link.gbps)])

        return ArrayAttr([one(link) for link in value])

    def from_attr(self, attr: Any) -> Any:
        def one(link: ArrayAttr) -> Link:
            a, b, *gbps = (item.data for item in link.data)
            return Link(a, b, gbps[0] if gbps else None)

        return tuple(one(link) for link in attr.data)

    def text(self, value: Any) -> str:
        def one(link: Link) -> str:
            at = "" if link.gbps is None else f" at {format_float(link.gbps)}"
            return f"{link.a}-{link.b}{at}"

        return "[" + ", ".join(one(link) for link in value) + "]"

    def read(self, parser: AttrParser) -> Any:
        def link() -> Link:
            a = parser.parse_integer(allow_boolean=False, context_msg=" (a link's first chiplet)")
            parser.parse_punctuation("-", " between a link's chiplets")
            b = parser.parse_integer(allow_boolean=False, allow_negative=False)
            gbps = float(parser.parse_number()) if parser.parse_optional_keyword("at") else None
            return Link(a, b, gbps)

        return tuple(parser.parse_comma_separated_list(parser.Delimiter.SQUARE, link))

    def range_text(self) -> str:
        low, high = (show_number(g) for g in self.gbps)
        return f"0 to {self.most} links, each {low} to {high} GB/s"


# -- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One hardware field. `default` is the `paper-2x2` preset's value. An `optional` field may
    be left out of a `system` block that gives every field and of the IR text, and then takes
    its default (which every machine shares); the IR prints it only when it differs. `why`
    says why the range ends where it does (README: Limits)."""

    name: str
    unit: str
    default: Any
    kind: Kind
    meaning: str
    source: str
    why: str
    optional: bool = False


STUDY = "study"  # the FSE-DP authors' simulator, github.com/Man0xbfc00380/MoeOpt; docs/design.md §5
# GB/s of a DDR channel or a D2D link: 1 MB/s to 1 PB/s. The low end also keeps bytes / bandwidth
# finite (a denormal bandwidth would make latencies inf or NaN).
GBPS_RANGE = (0.001, 1e6)
TOPOLOGIES = ("mesh", "torus", "ring", "custom")

_FIELDS = (
    Field(
        name="rows",
        unit="chiplets",
        default=2,
        kind=Int(1, 16),
        meaning="rows of the chiplet grid (ids are row-major)",
        source=STUDY,
        why="the study's meshes are 2x2 to 4x4; routes and programs grow with chiplets squared",
    ),
    Field(
        name="cols",
        unit="chiplets",
        default=2,
        kind=Int(1, 16),
        meaning="columns of the chiplet grid",
        source=STUDY,
        why="as rows: up to 16x16 = 256 chiplets",
    ),
    Field(
        name="topology",
        unit="-",
        default="mesh",
        kind=Choice(TOPOLOGIES),
        meaning="how D2D links join the chiplets: `mesh` (grid neighbours), `torus` (mesh plus "
        "wrap-around links on every row and column of more than 2), `ring` (chiplet i to i+1, "
        "and the last to 0), `custom` (the `links` listed)",
        source="study (mesh); torus, ring and custom are ours",
        why="the topologies the interconnect builds",
        optional=True,
    ),
    Field(
        name="clock_ghz",
        unit="GHz",
        default=0.8,
        kind=Real(0.001, 100.0),
        meaning="chiplet clock; every latency in cycles uses it",
        source=STUDY,
        why="1 MHz to 100 GHz",
    ),
    Field(
        name="ops_per_cycle",
        unit="ops/cycle",
        default=2048,
        kind=Int(1, 2**24),
        meaning="matrix-engine rate per chiplet (a multiply-add is 2 ops)",
        source=STUDY,
        why="16M: a whole H100 does about 0.5M per cycle",
    ),
    Field(
        name="sram_bytes",
        unit="bytes",
        default=8 * 1024 * 1024,
        kind=Int(1, 2**40),
        meaning="SRAM per chiplet, weights and activations",
        source="assumption: the study counts slots; 8 MiB holds its 12 DeepSeek-MoE slices "
        "(16 per expert) plus 64 tokens' activations",
        why="1 TiB, far above any SRAM; keeps byte sums well inside 64 bits",
    ),
    Field(
        name="ddr",
        unit="GB/s at chiplet",
        default=tuple(DdrChannel(25.6, chiplet) for chiplet in range(4)),
        kind=Channels(1024, GBPS_RANGE),
        meaning="DDR channels and the chiplet each is attached to",
        source="study (corner chiplets)",
        why="1024 channels: four per chiplet of the largest grid",
    ),
    Field(
        name="d2d_gbps",
        unit="GB/s (1e9 B/s)",
        default=288.0,
        kind=Real(*GBPS_RANGE),
        meaning="bandwidth of a D2D link, each way (a custom link's own `at` overrides it)",
        source=STUDY,
        why="1 MB/s to 1 PB/s",
    ),
    Field(
        name="links",
        unit="chiplet-chiplet at GB/s",
        default=(),
        kind=Links(4096, GBPS_RANGE),
        meaning="the D2D links of a `custom` topology, each bidirectional: `[0-1, 1-3 at 144]`",
        source="ours: for irregular packages",
        why="4096 links: 16 per chiplet of the largest grid",
        optional=True,
    ),
    Field(
        name="hop_latency_cycles",
        unit="cycles",
        default=8,
        kind=Int(0, 2**20),
        meaning="latency added per D2D hop",
        source="assumption: the study prices every move the same; 10 ns per hop",
        why="1M cycles (1 ms at 1 GHz); simulated times stay exact in a float",
    ),
    Field(
        name="element_bytes",
        unit="bytes",
        default=1,
        kind=Int(1, 8),
        meaning="bytes per activation element (int8)",
        source=STUDY,
        why="fp64",
    ),
    Field(
        name="slice_buffers",
        unit="slices",
        default=12,
        kind=Int(2, 4096),
        meaning="the most weight-slice buffers a chiplet's scheduler tracks; the compiler uses "
        "as many as the schedule needs, up to this and SRAM",
        source="study (2x2); paper-3x3 and paper-4x4: 16 and 20, an assumption (two more per "
        "extra hop of mesh diameter: deeper trajectories, docs/compiler.md)",
        why="4096, more than the slices of 256 experts at 16 per expert; at least 2 because "
        "rule R4 admits a DDR load only while one buffer stays free for D2D arrivals",
    ),
)

SYSTEM_FIELDS: dict[str, Field] = {field.name: field for field in _FIELDS}


# -- the machine as plain values ---------------------------------------------------------------


class _SpecMethods:
    """What every SystemSpec offers besides its fields."""

    @property
    def chiplets(self) -> int:
        """Number of chiplets (rows * cols)."""
        return self.rows * self.cols  # type: ignore[attr-defined]

    @property
    def cycles_per_second(self) -> float:
        """Chiplet clock in Hz."""
        return self.clock_ghz * 1e9  # type: ignore[attr-defined]

    def validate(self) -> None:
        """Raise MachineError naming the first field whose value cannot describe a machine."""
        validate_system(self)

    def replace(self, **changes: Any) -> SystemSpec:
        """A copy with `changes` (not validated)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _spec_field(field: Field) -> tuple[str, type, dataclasses.Field]:
    default = field.default if field.optional else dataclasses.MISSING
    return field.name, field.kind.python_type, dataclasses.field(default=default, kw_only=True)


# The machine as a frozen dataclass: `name` (used in reports) and every field of the table, by
# keyword. Optional fields have their default; the others must be given.
SystemSpec = dataclasses.make_dataclass(
    "SystemSpec",
    [("name", str, dataclasses.field(kw_only=True)), *map(_spec_field, _FIELDS)],
    bases=(_SpecMethods,),
    frozen=True,
)
SystemSpec.__module__ = __name__
SystemSpec.__doc__ = "A machine: `name` and every field of `SYSTEM_FIELDS`, as plain values."


def default_system(name: str) -> SystemSpec:
    """Every field at its default: the `paper-2x2` machine, called `name`."""
    return SystemSpec(name=name, **{f.name: f.default for f in _FIELDS})


def validate_system(spec: Any) -> None:
    """Every field in table order (a field's check may read the earlier ones), then what
    involves several: the topology's links and that every chiplet is reachable."""
    if not isinstance(spec.name, str) or not spec.name:
        raise _field_error("name", f"must be a non-empty string, got {spec.name!r}")
    for field in _FIELDS:
        field.kind.check(field.name, field.unit, getattr(spec, field.name), spec)
    _check_topology(spec)


def _check_topology(spec: Any) -> None:
    if spec.topology != "custom" and spec.links:
        raise _field_error(
            "links",
            f"lists the links of topology 'custom' only; topology '{spec.topology}' builds its own",
        )
    if spec.topology == "custom" and not spec.links and spec.chiplets > 1:
        raise _field_error(
            "topology",
            f"is 'custom', but 'links' lists no link between its {spec.chiplets} chiplets",
        )
    if spec.topology == "custom":
        _check_reachable(spec)


def _check_reachable(spec: Any) -> None:
    """Links are bidirectional, so every chiplet can reach every other one exactly when it is
    in the part of the graph a DDR channel's chiplet is in."""
    channel = spec.ddr[0].chiplet
    reached = nx.node_connected_component(link_graph(spec), channel)
    if len(reached) < spec.chiplets:
        lost = min(set(range(spec.chiplets)) - reached)
        raise _field_error(
            "links",
            f"leaves chiplet {lost} unreachable from DDR channel 0 (at chiplet {channel}): "
            "every chiplet needs a path of links to every other",
        )


def link_graph(spec: Any) -> nx.Graph:
    """The chiplets (nodes 0 .. rows * cols - 1) and the topology's links (edges, each with
    its `gbps`) as a networkx graph."""
    graph = nx.Graph()
    graph.add_nodes_from(range(spec.rows * spec.cols))
    for link in undirected_links(spec):
        graph.add_edge(link.a, link.b, gbps=link.gbps)
    return graph


def undirected_links(spec: Any) -> list[Link]:
    """The D2D links of the machine's topology, each once with its bandwidth, (a, b) with a < b.

    mesh: grid neighbours. torus: the mesh plus a wrap-around link from the last chiplet of
    every row to the first, and of every column, where the row or column has more than 2
    chiplets (with 2 they are neighbours already; one link joins them). ring: chiplet i to
    i + 1, and the last to 0 where there are more than 2. custom: `links`."""
    rows, cols, gbps = spec.rows, spec.cols, float(spec.d2d_gbps)
    if spec.topology == "custom":
        pairs = [(link.a, link.b, link.gbps) for link in spec.links]
        return sorted(Link(min(a, b), max(a, b), g if g is not None else gbps) for a, b, g in pairs)
    count = rows * cols
    if spec.topology == "ring":
        pairs = [(i, i + 1) for i in range(count - 1)]
        pairs += [(0, count - 1)] if count > 2 else []
    else:
        pairs = [(i, i + 1) for i in range(count) if i % cols + 1 < cols]
        pairs += [(i, i + cols) for i in range(count - cols)]
        if spec.topology == "torus":
            pairs += [(r * cols, r * cols + cols - 1) for r in range(rows) if cols > 2]
            pairs += [(c, (rows - 1) * cols + c) for c in range(cols) if rows > 2]
    return sorted(Link(a, b, gbps) for a, b in pairs)
