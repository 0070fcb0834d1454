"""The `.moe` front end: text in the `.moe` language (grammar in `moe.lark`) to `moe` IR.

A `.moe` file names a machine, a model, a workload and optionally a strategy:

    system paper-2x2 { sram_bytes = 8388608 }      // a preset, fields override it
    model deepseek-moe-16b                          // a preset, `from "config.json"`, or fields
    workload { tokens = 256  routing = zipf(s = 1.2, seed = 7) }
    strategy fsedp-paired { slices = 16 }           // compiler pipeline and its options

It becomes one module: the machine as the `chiplet.system` attribute, the strategy as
`fsedp.strategy` / `fsedp.strategy_options`, and one `moe.layer` holding the routing. Every
mistake is reported as an `FsedpError` with file, line and column.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import IO, Any

import lark
import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, ModuleOp, StringAttr
from xdsl.ir import Attribute
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.frontend import Frontend

from dialects.chiplet import SYSTEM_ATTR_NAME, SystemAttr
from dialects.moe import LayerOp, ModelAttr
from fsedp_compiler import limits, pipelines, presets, routing
from fsedp_compiler.errors import FsedpError, decode_utf8, located, split_lines
from fsedp_compiler.nesting import MLIR_STRING, char_offset, first_too_deep
from fsedp_compiler.presets import MachineError, is_int
from fsedp_compiler.record import check_strategy_attributes, record

ROUTING_SOURCE_ATTR = "fsedp.routing"
KNOWN_STRATEGIES = ("fsedp", "fsedp-paired", "ep", "hydra")
DEFAULT_SEED = 0


# -- syntax tree to located values ------------------------------------------------------------


@dataclass(frozen=True)
class Loc:
    line: int
    column: int
    define: str | None = None  # the -D text the position is in (overrides.py), not the file


@dataclass(frozen=True)
class Name:
    """A bare identifier used as a value (`order = paired`), as opposed to a "string"."""

    text: str


@dataclass(frozen=True)
class Value:
    data: Any
    loc: Loc


@dataclass(frozen=True)
class Call:
    func: str
    args: list[Value]
    kwargs: dict[str, Value]


@dataclass(frozen=True)
class IntLists:
    """`[[1, 2], [3, 4]]` written with integers only (the grammar's INT_LISTS, the usual inline
    routing), kept as text: `text` is the token with its comments blanked out (offsets kept)."""

    text: str
    loc: Loc

    def rows(self) -> list[str]:
        """The text of each inner list."""
        return _ROW.findall(self.text)

    def row_loc(self, index: int) -> Loc:
        return self.loc_at(next(itertools.islice(_ROW.finditer(self.text), index, None)).start())

    def loc_at(self, offset: int) -> Loc:
        line_start = self.text.rfind("\n", 0, offset) + 1
        if line_start == 0:
            return dataclasses.replace(self.loc, column=self.loc.column + offset)
        line = self.loc.line + self.text.count("\n", 0, offset)
        return dataclasses.replace(self.loc, line=line, column=offset - line_start + 1)

    def check_digits(self) -> None:
        """Refuse a number beyond the digits Python converts, as anywhere else in the file."""
        most = sys.get_int_max_str_digits()
        long = re.search(f"[0-9]{{{most + 1},}}", self.text)
        if long:
            message = f"number with {len(long[0])} digits is too long; at most {most}"
            raise _located(message, self.loc_at(long.start()))

    def tolist(self) -> list[list[int]]:
        self.check_digits()
        return [[int(n) for n in _INT.findall(row)] for row in self.rows()]


_ROW = re.compile(r"\[[^\[\]]*\]")
_INT = re.compile(r"[+-]?[0-9]+")
_COMMENT = re.compile(r"//[^\n]*|/\*(?:[^*]|\*+[^*/])*+\*+/")


def _blank_comments(text: str) -> str:
    """`text` with every comment turned into spaces, line ends kept, so offsets stay put."""
    if "/" not in text:
        return text
    return _COMMENT.sub(lambda comment: re.sub(r"[^\n]", " ", comment[0]), text)


@dataclass(frozen=True)
class Field:
    name: str
    value: Value
    loc: Loc


@dataclass(frozen=True)
class Block:
    kind: str
    source: Value | None  # preset name, or `from "file"` for models
    fields: list[Field]
    loc: Loc


def _loc(item: lark.Token | lark.tree.Meta) -> Loc:
    return Loc(item.line, item.column)


@lark.v_args(meta=True)
class _ToBlocks(lark.Transformer):
    """Turns the parse tree into `Block`s whose values remember where they were written."""

    def number(self, meta, children):
        (token,) = children
        return Value(_number(token), _loc(token))

    def string(self, meta, children):
        (token,) = children
        return Value(_string_value(token), _loc(token))

    def name(self, meta, children):
        (token,) = children
        return Value(Name(str(token)), _loc(token))

    def boolean(self, meta, children):
        (token,) = children
        return Value(str(token) == "true", _loc(token))

    def int_lists(self, meta, children):
        (token,) = children
        return Value(IntLists(_blank_comments(str(token)), _loc(token)), _loc(token))

    def list(self, meta, children):
        return Value([c for c in children if c is not None], _loc(meta))

    def channel(self, meta, children):
        gbps, chiplet = children
        return Value(presets.DdrChannel(_as_float(_number(gbps)), _number(chiplet)), _loc(meta))

    def link(self, meta, children):
        a, b, gbps = children
        at = None if gbps is None else _as_float(_number(gbps))
        return Value(presets.Link(_number(a), _number(b), at), _loc(meta))

    def keyword_arg(self, meta, children):
        key, value = children
        return (str(key), value, _loc(key))

    def call(self, meta, children):
        func, *raw_args = children
        args: list[Value] = []
        kwargs: dict[str, Value] = {}
        for arg in raw_args:
            if arg is None:
                continue
            if isinstance(arg, tuple):
                key, value, loc = arg
                if key in kwargs:
                    raise _located(f"argument '{key}' given twice", loc)
                kwargs[key] = value
            else:
                args.append(arg)
        return Value(Call(str(func), args, kwargs), _loc(meta))

    def field(self, meta, children):
        key, value = children
        return Field(str(key), value, _loc(key))

    def body(self, meta, children):
        return list(children)

    def from_file(self, meta, children):
        (token,) = children
        return Value(("from", _string_value(token)), _loc(token))

    def _block(self, kind, meta, children):
        source: Value | None = None
        fields: list[Field] = []
        for child in children:
            if isinstance(child, lark.Token):
                source = Value(Name(str(child)), _loc(child))
            elif isinstance(child, Value):
                source = child
            elif isinstance(child, list):
                fields = child
        return Block(kind, source, fields, _loc(meta))

    def system(self, meta, children):
        return self._block("system", meta, children)

    def model(self, meta, children):
        return self._block("model", meta, children)

    def workload(self, meta, children):
        return self._block("workload", meta, children)

    def strategy(self, meta, children):
        return self._block("strategy", meta, children)

    def start(self, meta, children):
        return list(children)


# A string's escapes (README, "The .moe language"): JSON's, except that a \u escape may not be
# half of a UTF-16 surrogate pair; a character beyond U+FFFF is written as itself.
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)")
_ESCAPES_HELP = 'escapes are \\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX (not D800-DFFF)'


def _number(token: lark.Token) -> int | float:
    """An integer (exact, however large) or a finite 64-bit float."""
    text = str(token)
    try:
        value = int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:  # beyond the digits Python converts (sys.get_int_max_str_digits)
        most = sys.get_int_max_str_digits()
        raise _located(
            f"number with {len(text)} digits is too long; at most {most}", _loc(token)
        ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _located(
            f"number {text} is out of range: a float is at most about 1.8e308", _loc(token)
        )
    return value


def _string_value(token: lark.Token) -> str:
    """The text of a string token, its escapes replaced; a bad escape is reported where it is."""

    def unescape(match: re.Match) -> str:
        code = match.group(1)
        if code in _ESCAPES:
            return _ESCAPES[code]
        if len(code) == 5 and not 0xD800 <= int(code[1:], 16) <= 0xDFFF:
            return chr(int(code[1:], 16))
        # Strings are one line: the escape's column is the quote's plus its offset.
        where = Loc(token.line, token.column + 1 + match.start())
        shown = "\\u without 4 hex digits" if code == "u" else f"'{match.group(0)}'"
        raise _located(f"bad escape {shown} in a string; {_ESCAPES_HELP}", where)

    return _ESCAPE.sub(unescape, token[1:-1])


class _LocatedError(Exception):
    """Raised while walking the tree; turned into an FsedpError with file and source line."""

    def __init__(self, message: str, loc: Loc | None):
        super().__init__(message)
        self.message = message
        self.loc = loc


def _located(message: str, loc: Loc | None) -> _LocatedError:
    return _LocatedError(message, loc)


def _relocated(error: FsedpError, loc: Loc) -> _LocatedError:
    """An error in a file the .moe names (trace, config), keeping that file's location."""
    where = error.location()
    return _LocatedError(f"{where}: {error.message}" if where else error.message, loc)


class _Nesting:
    """Counts the brackets and calls open while lark lexes, so that a value nested deeper than
    the limit is refused at its first bracket too deep, before the tree walk (recursive) or
    even the rest of the parse."""

    def __init__(self):
        self.depth = 0

    def open(self, token: lark.Token) -> lark.Token:
        self.depth += 1
        if self.depth > limits.MAX_MOE_NESTING:
            raise _located(
                f"value nested deeper than the limit of {limits.MAX_MOE_NESTING} levels of "
                "brackets and calls (README: Limits)",
                _loc(token),
            )
        return token

    def close(self, token: lark.Token) -> lark.Token:
        self.depth -= 1
        return token

    def int_lists(self, token: lark.Token) -> lark.Token:
        self.open(token)  # a list of lists: two levels below the current one
        self.open(token)
        self.depth -= 2
        return token


_NESTING = _Nesting()  # reset by parse_moe; lark calls it for every bracket it lexes


@cache
def _parser(start: str = "start") -> lark.Lark:
    """The parser of a whole file, or with `start="value"` of a -D override's VALUE
    (overrides.py); one grammar, two tables, so a file's syntax errors stay as they are."""
    grammar = resources.files("fsedp_compiler").joinpath("moe.lark").read_text()
    # cache=True keeps the built LALR tables in the temp folder (keyed by the grammar's hash):
    # building them takes a quarter of a second, every fsedp-opt run.
    return lark.Lark(
        grammar,
        parser="lalr",
        start=start,
        propagate_positions=True,
        maybe_placeholders=True,
        cache=True,
        lexer_callbacks={
            "LSQB": _NESTING.open,
            "LPAR": _NESTING.open,
            "RSQB": _NESTING.close,
            "RPAR": _NESTING.close,
            "INT_LISTS": _NESTING.int_lists,
        },
    )


def _describe_expected(error: lark.exceptions.UnexpectedInput) -> str:
    expected = sorted(getattr(error, "expected", None) or getattr(error, "allowed", None) or [])
    names = {
        "LBRACE": "'{'",
        "RBRACE": "'}'",
        "EQUAL": "'='",
        "LSQB": "'['",
        "RSQB": "']'",
        "LPAR": "'('",
        "RPAR": "')'",
        "COMMA": "','",
        "SEMICOLON": "';'",
        "NAME": "a name",
        "STRING": "a string",
        "SIGNED_NUMBER": "a number",
        "INT": "an integer",
        "BOOL": "true/false",
        "SYSTEM": "'system'",
        "MODEL": "'model'",
        "WORKLOAD": "'workload'",
        "STRATEGY": "'strategy'",
        "FROM": "'from'",
        "AT": "'at'",
        "MINUS": "'-'",
        "$END": "end of file",
    }
    readable = sorted({names.get(e, e) for e in expected})
    return ", ".join(readable)


def _syntax_error(error: lark.exceptions.UnexpectedInput, text: str) -> _LocatedError:
    loc = Loc(error.line, error.column) if error.line > 0 else None
    if isinstance(error, lark.exceptions.UnexpectedCharacters) and error.char == '"':
        return _located('unterminated string: a string ends with " on the line it starts', loc)
    # A whole comment is skipped anywhere, so one the lexer stops at has no end.
    if isinstance(error, lark.exceptions.UnexpectedCharacters) and text.startswith(
        "/*", error.pos_in_stream
    ):
        return _located("unterminated comment: /* needs a closing */", loc)
    if isinstance(error, lark.exceptions.UnexpectedCharacters):
        found = f"unexpected character {error.char!r}"
    elif isinstance(error, lark.exceptions.UnexpectedEOF) or error.token.type == "$END":
        found = "unexpected end of file"  # lark points at the last token read
    else:
        found = f"unexpected {str(error.token)!r}"
    expected = _describe_expected(error)
    return _located(f"syntax error: {found}" + (f"; expected {expected}" if expected else ""), loc)


# -- the program the blocks describe ----------------------------------------------------------


@dataclass(frozen=True)
class MoeProgram:
    """Everything a `.moe` file says, resolved: presets applied, routing materialised."""

    system: presets.SystemSpec
    model: presets.ModelSpec
    routing: np.ndarray
    routing_source: str
    strategy: str | None = None
    strategy_options: dict[str, Any] = field(default_factory=dict)


def parse_moe(text: str, filename: str = "<input>", overrides: Sequence = ()) -> MoeProgram:
    """Parse `.moe` text; raise FsedpError with file:line:col on any problem.

    `overrides` (`overrides.Override`, from `-D`) set fields as if the file said them."""
    # lark counts lines at \n only; \r\n and \r end a line too (errors.split_lines). No string
    # or value can hold a line end, so this changes nothing but where lines are counted.
    text = "\n".join(split_lines(text))
    lines = text.split("\n")
    try:
        try:
            _NESTING.depth = 0
            tree = _parser().parse(text)
        except lark.exceptions.UnexpectedInput as error:
            raise _syntax_error(error, text) from None
        blocks = _ToBlocks().transform(tree)
        resolver = _Resolver(os.path.dirname(filename) if filename else "")
        if overrides:
            from fsedp_compiler.overrides import apply_overrides

            blocks = apply_overrides(blocks, overrides, resolver)
        return resolver.resolve(blocks)
    except lark.exceptions.VisitError as error:
        if isinstance(error.orig_exc, _LocatedError):
            raise _to_fsedp_error(error.orig_exc, filename, lines) from None
        raise
    except _LocatedError as error:
        raise _to_fsedp_error(error, filename, lines) from None


def _to_fsedp_error(error: _LocatedError, filename: str, lines: list[str]) -> FsedpError:
    if error.loc is None:
        return FsedpError(error.message, file=filename)
    if error.loc.define is not None:  # in a -D override's text
        from fsedp_compiler.overrides import DEFINE_FILE

        filename, lines = DEFINE_FILE, split_lines(error.loc.define)
    source = lines[error.loc.line - 1] if 0 < error.loc.line <= len(lines) else None
    return FsedpError(
        error.message,
        file=filename,
        line=error.loc.line,
        column=error.loc.column,
        source_line=source,
    )


class _Resolver:
    """Applies presets and overrides and loads the routing, keeping every error located."""

    def __init__(self, base_dir: str):
        self.base_dir = base_dir

    def resolve(self, blocks: list[Block]) -> MoeProgram:
        by_kind: dict[str, Block] = {}
        for block in blocks:
            if block.kind in by_kind:
                raise _located(f"a second '{block.kind}' block; a file has one", block.loc)
            by_kind[block.kind] = block
        # Resolve what is there before complaining about what is missing: a typo inside the
        # first block is the more useful message while a file is being written.
        system = self.system(by_kind["system"]) if "system" in by_kind else None
        model = self.model(by_kind["model"]) if "model" in by_kind else None
        workload = by_kind.get("workload")
        routed = self.workload(workload, model) if workload and model else None
        strategy, options = self.strategy(by_kind.get("strategy"))
        for required in ("system", "model", "workload"):
            if required not in by_kind:
                raise _located(f"missing '{required}' block", None)
        routing_array, source = routed
        return MoeProgram(system, model, routing_array, source, strategy, options)

    # -- system and model ----------------------------------------------------------------------

    def system(self, block: Block) -> presets.SystemSpec:
        known = ("name", *presets.SYSTEM_FIELDS)  # the field table, and the machine's name
        if block.source is None:
            return self._spec_from_fields(block, presets.SystemSpec, known)
        base = self._preset(block.source, presets.get_system)
        return self._override(block, base, known)

    def model(self, block: Block) -> presets.ModelSpec:
        if block.source is None:
            return self._spec_from_fields(block, presets.ModelSpec, presets.MODEL_FIELDS)
        if isinstance(block.source.data, tuple):
            _, path = block.source.data
            try:
                base = routing.model_from_hf_config(self._path(path))
            except FsedpError as error:
                raise _relocated(error, block.source.loc) from None
        else:
            base = self._preset(block.source, presets.get_model)
        return self._override(block, base, presets.MODEL_FIELDS)

    def _preset(self, source: Value, lookup):
        try:
            return lookup(source.data.text)
        except FsedpError as error:
            raise _located(error.message, source.loc) from None

    def _checked_fields(self, block: Block, known: Collection[str]) -> dict[str, Field]:
        fields: dict[str, Field] = {}
        for item in block.fields:
            if item.name not in known:
                valid = ", ".join(known)
                raise _located(
                    f"unknown {block.kind} field '{item.name}'; valid fields: {valid}", item.loc
                )
            if item.name in fields:
                raise _located(f"{block.kind} field '{item.name}' given twice", item.loc)
            fields[item.name] = item
        return fields

    def _spec_from_fields(self, block: Block, spec_type, known: Collection[str]):
        fields = self._checked_fields(block, known)
        required = [
            f.name
            for f in dataclasses.fields(spec_type)
            if f.default is dataclasses.MISSING and f.name not in fields
        ]
        if spec_type is presets.ModelSpec and "layers" in required:
            required.remove("layers")  # kept for reference only: one layer is compiled
            fields_values = {"layers": 1}
        else:
            fields_values = {}
        if required:
            raise _located(
                f"{block.kind} block without a preset must give every field; missing: "
                + ", ".join(required),
                block.loc,
            )
        fields_values |= {name: self._field_value(block, f) for name, f in fields.items()}
        return self._validated(block, fields, lambda: spec_type(**fields_values))

    def _override(self, block: Block, base, known: Collection[str]):
        fields = self._checked_fields(block, known)
        values = {name: self._field_value(block, f) for name, f in fields.items()}
        return self._validated(block, fields, lambda: presets.with_overrides(base, values))

    def _validated(self, block: Block, fields: dict[str, Field], build):
        try:
            spec = build()
            spec.validate()
            return spec
        except (FsedpError, MachineError, TypeError) as error:
            message = error.message if isinstance(error, FsedpError) else str(error)
            raise _located(message, _blamed(fields, message, block.loc)) from None

    def _field_value(self, block: Block, item: Field) -> Any:
        data = item.value.data
        if item.name == "name":
            return self._text(item.value, "name")
        if block.kind == "system":  # the field table says what each field takes
            kind = presets.SYSTEM_FIELDS[item.name].kind
            expected, value = kind.expects, kind.from_moe(_plain(item.value))
        else:
            expected, value = "an integer", data if is_int(data) else None
        if value is None:
            raise _located(
                f"{block.kind} field '{item.name}' expects {expected}, got {_show(data)}",
                item.value.loc,
            )
        return value

    def _text(self, value: Value, what: str) -> str:
        if isinstance(value.data, Name):
            return value.data.text
        if isinstance(value.data, str):
            return value.data
        raise _located(f"{what} expects a name or a string, got {_show(value.data)}", value.loc)

    def _path(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.base_dir, path)

    # -- workload ------------------------------------------------------------------------------

    def workload(self, block: Block, model: presets.ModelSpec) -> tuple[np.ndarray, str]:
        fields = self._checked_fields(block, {"tokens": None, "routing": None})
        if "routing" not in fields:
            raise _located("workload needs a 'routing' field", block.loc)
        tokens = None
        if "tokens" in fields:
            value = fields["tokens"].value
            if not isinstance(value.data, int) or isinstance(value.data, bool) or value.data <= 0:
                raise _located(
                    f"workload tokens must be a positive integer, got {_show(value.data)}",
                    value.loc,
                )
            tokens = value.data
            try:
                routing.check_routing_size(tokens, model.top_k)
            except FsedpError as error:
                raise _located(error.message, value.loc) from None
        spec = fields["routing"].value
        try:
            array, source = self._routing(spec, tokens, model)
            routing.validate_routing(array, model.experts, model.top_k)
        except FsedpError as error:
            raise _relocated(error, spec.loc) from None
        if tokens is not None and tokens != array.shape[0]:
            raise _located(
                f"workload tokens = {tokens}, but the routing has {array.shape[0]} tokens",
                fields["tokens"].value.loc,
            )
        return array, source

    def _routing(
        self, spec: Value, tokens: int | None, model: presets.ModelSpec
    ) -> tuple[np.ndarray, str]:
        if isinstance(spec.data, IntLists):
            return _int_lists_routing(spec.data), "inline"
        if isinstance(spec.data, list):
            return _inline_routing(spec), "inline"
        if not isinstance(spec.data, Call):
            raise _located(
                "routing expects uniform(seed = N), zipf(s = S, seed = N), "
                'dirichlet(alpha = A, seed = N), trace("file", layer = L) or an inline '
                f"[[ids], ...] list, got {_show(spec.data)}",
                spec.loc,
            )
        call = spec.data
        if call.func == "trace":
            return self._trace(call, spec, model)
        if call.func not in routing.ROUTING_KINDS:
            raise _located(
                f"unknown routing '{call.func}'; use one of: "
                + ", ".join((*routing.ROUTING_KINDS, "trace")),
                spec.loc,
            )
        if tokens is None:
            raise _located(f"{call.func} routing needs 'tokens' in the workload", spec.loc)
        param_name = {"uniform": None, "zipf": "s", "dirichlet": "alpha"}[call.func]
        allowed = {"seed"} | ({param_name} if param_name else set())
        kwargs = _call_kwargs(call, allowed, positional=[param_name] if param_name else [])
        seed = kwargs.get("seed", DEFAULT_SEED)
        param = kwargs.get(param_name) if param_name else None
        if param_name and param is None:
            raise _located(f"{call.func} routing needs '{param_name}'", spec.loc)
        array = routing.synthetic_routing(
            call.func, tokens, model.experts, model.top_k, seed=seed, param=param
        )
        shown = f"{param_name} = {param}, " if param_name else ""
        return array, f"{call.func}({shown}seed = {seed})"

    def _trace(self, call: Call, spec: Value, model) -> tuple[np.ndarray, str]:
        kwargs = _call_kwargs(call, {"path", "layer"}, positional=["path"])
        path = kwargs.get("path")
        if not isinstance(path, str):
            raise _located('trace routing needs a file path string: trace("file.json")', spec.loc)
        layer = kwargs.get("layer")
        array = routing.load_routing_file(
            self._path(path), model.experts, model.top_k, shared=model.shared, layer=layer
        )
        shown_layer = f", layer = {layer}" if layer is not None else ""
        return array, f'trace("{path}"{shown_layer})'

    # -- strategy ------------------------------------------------------------------------------

    def strategy(self, block: Block | None) -> tuple[str | None, dict[str, Any]]:
        if block is None:
            return None, {}
        name = block.source.data.text  # the grammar requires the name
        if name not in KNOWN_STRATEGIES:
            raise _located(
                f"unknown strategy '{name}'; known: " + ", ".join(KNOWN_STRATEGIES),
                block.source.loc,
            )
        options: dict[str, Any] = {}
        given: dict[tuple[int, str], Field] = {}
        for item in block.fields:
            # Checked here, one option at a time, so that each error points at its option.
            try:
                target = pipelines.option_target(name, item.name)
            except FsedpError as error:
                raise _located(error.message, item.loc) from None
            if target in given:
                first = given[target]
                raise _located(
                    f"strategy option '{item.name}' given twice (also as '{first.name}' at "
                    f"line {first.loc.line}, column {first.loc.column})",
                    item.loc,
                )
            given[target] = item
            options[item.name] = _option_value(item.value)
            try:
                pipelines.pipeline_passes(name, {item.name: options[item.name]})
            except FsedpError as error:
                raise _located(error.message, item.value.loc) from None
        return name, options


def _blamed(fields: dict[str, Field], message: str, default: Loc) -> Loc:
    """Where the field a validation message names was written; a list entry's own position
    for 'ddr[i]...' or 'links[i]...'."""
    for name, item in fields.items():
        if f"'{name}'" not in message and f"'{name}[" not in message:
            continue
        entry = re.search(rf"'{name}\[(\d+)\]", message)
        if entry and isinstance(item.value.data, list):
            return item.value.data[int(entry.group(1))].loc
        return item.value.loc
    return default


def _as_float(number: int | float) -> int | float:
    # An integer too large for a float stays exact: validate() reports it against the range.
    try:
        return float(number)
    except OverflowError:
        return number


def _show(data: Any) -> str:
    if isinstance(data, Name):
        return data.text
    if isinstance(data, Call):
        return f"{data.func}(...)"
    if isinstance(data, (list, IntLists)):
        return "a list"
    if isinstance(data, presets.DdrChannel):
        return f"{data.gbps} at {data.chiplet}"
    if isinstance(data, presets.Link):
        return f"{data.a}-{data.b}" + ("" if data.gbps is None else f" at {data.gbps}")
    return json.dumps(data)


def _plain(value: Value) -> Any:
    data = value.data
    if isinstance(data, Name):
        return data.text
    if isinstance(data, list):
        return [_plain(v) for v in data]
    if isinstance(data, IntLists):
        return data.tolist()
    return data


def _call_kwargs(call: Call, allowed: set[str], positional: list[str]) -> dict[str, Any]:
    if len(call.args) > len(positional):
        extra = call.args[len(positional)]
        raise _located(
            f"{call.func}() takes at most {len(positional)} positional argument(s)", extra.loc
        )
    values = {
        name: _argument(call, name, arg) for name, arg in zip(positional, call.args, strict=False)
    }
    for key, arg in call.kwargs.items():
        if key not in allowed:
            raise _located(
                f"{call.func}() has no argument '{key}'; it takes: " + ", ".join(sorted(allowed)),
                arg.loc,
            )
        if key in values:
            raise _located(f"{call.func}() got '{key}' twice", arg.loc)
        values[key] = _argument(call, key, arg)
    return values


def _argument(call: Call, key: str, arg: Value) -> Any:
    """A call's arguments are numbers (seed, s, alpha, layer) or strings (a trace's file)."""
    data = arg.data
    if isinstance(data, bool) or not isinstance(data, (int, float, str)):
        raise _located(
            f"{call.func}() argument '{key}' takes a number or a string, got {_show(data)}",
            arg.loc,
        )
    return data


def _inline_routing(spec: Value) -> np.ndarray:
    rows = spec.data
    if not rows:
        raise _located("inline routing must list at least one token", spec.loc)
    table = []
    for token, row in enumerate(rows):
        ids = row.data if isinstance(row.data, list) else None
        if ids is None or not all(
            isinstance(v.data, int) and not isinstance(v.data, bool) for v in ids
        ):
            raise _located(f"token {token}: expected a list of integer expert ids", row.loc)
        table.append([v.data for v in ids])
    token = _ragged_row(table)
    if token is not None:
        raise _located(_ragged_message(table, token), rows[token].loc)
    return _id_array(table, spec.loc)


def _int_lists_routing(lists: IntLists) -> np.ndarray:
    """The routing an INT_LISTS token writes: one regular-expression pass per row, no tree."""
    rows = lists.rows()
    routing.check_routing_size(len(rows), len(_INT.findall(rows[0])))  # before reading them all
    lists.check_digits()
    table = [_INT.findall(row) for row in rows]
    token = _ragged_row(table)
    if token is not None:
        raise _located(_ragged_message(table, token), lists.row_loc(token))
    return _id_array(table, lists.loc)


def _ragged_row(table: list[list]) -> int | None:
    """The first token whose number of expert ids differs from token 0's."""
    width = len(table[0])
    return next((i for i, row in enumerate(table) if len(row) != width), None)


def _ragged_message(table: list[list], token: int) -> str:
    return f"token {token} has {len(table[token])} expert ids, token 0 has {len(table[0])}"


def _id_array(table: list[list], loc: Loc) -> np.ndarray:
    try:
        return np.array(table, dtype=np.int64)  # also converts the digit strings of INT_LISTS
    except OverflowError:
        raise _located("an expert id does not fit in 64 bits", loc) from None


def _option_value(value: Value) -> Any:
    data = value.data
    if isinstance(data, (Call, presets.DdrChannel, presets.Link, list, IntLists)):
        # no option takes a list: `[hot-first]` would otherwise pass as `hot-first`
        raise _located(
            f"a strategy option takes one number, name or string, got {_show(data)}", value.loc
        )
    if is_int(data) and not -(2**63) <= data < 2**63:  # the IR keeps options as i64
        raise _located(f"strategy option value {data} does not fit in 64 bits", value.loc)
    return _plain(value)


# -- IR construction --------------------------------------------------------------------------


def model_attr(model: presets.ModelSpec) -> ModelAttr:
    return ModelAttr(
        model.name,
        hidden=model.hidden,
        ffn=model.ffn,
        experts=model.experts,
        shared=model.shared,
        top_k=model.top_k,
        bytes=model.element_bytes,
    )


def model_spec(attr: ModelAttr) -> presets.ModelSpec:
    """The layer shape a `moe.model` attribute describes (one layer; inverse of model_attr)."""
    return presets.ModelSpec(
        name=attr.model_name.data,
        hidden=attr.hidden.data,
        ffn=attr.ffn.data,
        experts=attr.experts.data,
        shared=attr.shared.data,
        top_k=attr.top_k.data,
        layers=1,
        element_bytes=attr.bytes.data,
    )


def check_mlir_nesting(raw: bytes, filename: str) -> None:
    """Refuse MLIR text nested deeper than the limit before xDSL's recursive parser sees it."""
    offset = first_too_deep(
        raw, b"[{(", b"]})", limits.MAX_MLIR_NESTING, MLIR_STRING, comments=True
    )
    if offset is not None:
        message = (
            f"MLIR nested deeper than the limit of {limits.MAX_MLIR_NESTING} levels of brackets, "
            "braces and parentheses (README: Limits)"
        )
        text = raw.decode("utf-8", errors="replace")
        raise located(message, text, char_offset(raw, offset), filename)


_LONE_CR = re.compile(r"\r(?!\n)")


def parse_mlir(ctx: Context, text: str, filename: str, implicit_module: bool = True) -> ModuleOp:
    """xDSL's parse of MLIR text, with an attribute xDSL refuses while building it (an integer
    beyond its type: `bytes 99999999999999999999999`, `chiplet 10^20`) reported at its place in
    the text: xDSL raises that as a VerifyException without one. A lone `\r` ends a line, as
    everywhere (README: Errors); xDSL's lexer ends a `//` comment at `\n` only, so it reads a
    `\n` there (the same length: every position stays where it was)."""
    if "\r" in text:
        text = _LONE_CR.sub("\n", text)
    parser = Parser(ctx, text, filename)
    try:
        return parser.parse_module(implicit_module)
    except VerifyException as error:
        if getattr(error, "location", None):
            raise  # a program rule broken, already located (cisa.ProgramViolation)
        message = str(error)
        raise located(message, text, _culprit(message, text, parser.pos), filename) from None
    except NotImplementedError as error:  # xDSL cannot build it: `array<i99: 1>`
        message = f"xDSL cannot represent this value: {error}"
        raise located(message, text, max(0, min(parser.pos, len(text) - 1)), filename) from None


def _culprit(message: str, text: str, pos: int) -> int:
    """Where the value a parse-time error names is: its last occurrence as a number before
    `pos` (the parser may have read on, to the end of the op), else `pos`."""
    value = re.match(r"Integer value (-?\d+) ", message)
    if value:
        number = re.compile(rf"(?<![\w.]){re.escape(value[1])}(?![\w.])")
        found = [match.start() for match in number.finditer(text, 0, pos)]
        if found:
            return found[-1]
    return max(0, min(pos, len(text) - 1))


def check_limits(module: ModuleOp, filename: str) -> None:
    """For a module read from MLIR text: what the .moe front end checks of the layers (finite
    numbers within the limits, README: Limits), which the dialects' verifiers do not, so that
    the passes and the simulator never see inf, NaN or a 10^9-expert model. (The machine's
    attribute checks itself against the field table when it is read.)"""
    try:
        check_strategy_attributes(module)
        for op in module.walk():
            if isinstance(op, LayerOp):
                # not verified yet: a property missing or of another kind (generic syntax) is
                # the verifier's to report
                model, dense = op.properties.get("model"), op.properties.get("routing")
                if isinstance(model, ModelAttr):
                    model_spec(model).validate()
                shape = dense.get_shape() if isinstance(dense, DenseIntOrFPElementsAttr) else ()
                if len(shape) == 2:  # another shape is the verifier's to report
                    routing.check_routing_size(*shape)
    except FsedpError as error:
        raise FsedpError(error.message, file=filename) from None


def build_module(program: MoeProgram) -> ModuleOp:
    """The moe-level IR of a resolved `.moe` program."""
    attributes: dict[str, Attribute] = {
        SYSTEM_ATTR_NAME: SystemAttr(program.system),
        ROUTING_SOURCE_ATTR: StringAttr(program.routing_source),
    }
    layer = LayerOp("layer0", model_attr(program.model), program.routing)
    module = ModuleOp([layer], attributes=attributes)
    if program.strategy is not None:
        record(module, program.strategy, program.strategy_options)
    return module


@dataclass(frozen=True)
class MoeFrontend(Frontend):
    """`fsedp-opt` front end for files ending in `.moe`."""

    name = "moe"
    overrides: tuple = ()  # `overrides.Override`s, from -D

    def parse(self, ctx: Context, input: IO[bytes], input_name: str = "<input>") -> ModuleOp:
        text = decode_utf8(input.read(), input_name)
        return build_module(parse_moe(text, input_name, self.overrides))
