"""The `moe` dialect: a Mixture-of-Experts layer and the routing of its tokens.

This is what the front end produces and what the compiler starts from. It describes *what* to
compute and says nothing about the machine:

- `#moe.model<...>` is the shape of the model: hidden size D, the FFN (intermediate) size F of
  one expert, the number of routed and shared experts, top-k and the bytes per weight element.
  A SwiGLU expert holds 3·D·F weights (gate, up, down) and costs 2·3·D·F ops per token.
- `moe.layer` is one MoE layer applied to a batch of tokens. Its `routing` is a
  `tokens x top_k` integer tensor of routed expert ids (0-based, distinct within a token).
  Shared experts are not listed: every token uses every shared expert. When shared experts are
  numbered, they follow the routed ones: ids `experts .. experts + shared - 1`.

Example:

```mlir
moe.layer @layer0 model #moe.model<"tiny", hidden 64, ffn 32, experts 4, shared 0, top_k 2,
    bytes 1> routing dense<[[0, 1], [2, 3], [1, 2]]> : tensor<3x2xi32>
```
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import (
    BytesAttr,
    DenseIntOrFPElementsAttr,
    IntAttr,
    IntegerType,
    StringAttr,
    SymbolNameConstraint,
    TensorType,
    i32,
)
from xdsl.ir import Dialect, ParametrizedAttribute
from xdsl.irdl import IRDLOperation, irdl_attr_definition, irdl_op_definition, prop_def, traits_def
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import SymbolOpInterface
from xdsl.utils.exceptions import VerifyException

from dialects._syntax import (
    checked_parameters,
    end_of_parsed,
    parse_fields,
    parse_positive_int,
    print_fields,
)

_MODEL_INT_FIELDS = ("hidden", "ffn", "experts", "shared", "top_k", "bytes")


@irdl_attr_definition
class ModelAttr(ParametrizedAttribute):
    """The shape of an MoE model: `#moe.model<"name", hidden D, ffn F, experts E, shared S,
    top_k K, bytes B>`."""

    name = "moe.model"

    model_name: StringAttr
    hidden: IntAttr
    ffn: IntAttr
    experts: IntAttr
    shared: IntAttr
    top_k: IntAttr
    bytes: IntAttr

    def __init__(
        self,
        model_name: str,
        *,
        hidden: int,
        ffn: int,
        experts: int,
        shared: int,
        top_k: int,
        bytes: int = 1,
    ):
        super().__init__(
            StringAttr(model_name),
            IntAttr(hidden),
            IntAttr(ffn),
            IntAttr(experts),
            IntAttr(shared),
            IntAttr(top_k),
            IntAttr(bytes),
        )

    @classmethod
    def parse_parameters(cls, parser: AttrParser):
        start = parser.pos
        with parser.in_angle_brackets():
            model_name = parser.parse_str_literal(" for the model name")
            parser.parse_punctuation(",")
            readers = {
                key: (lambda k=key: parse_positive_int(parser, k)) for key in _MODEL_INT_FIELDS
            }
            values = parse_fields(parser, readers)
        params = (StringAttr(model_name), *(IntAttr(values[k]) for k in _MODEL_INT_FIELDS))
        return checked_parameters(cls, parser, start, params)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string_literal(self.model_name.data)
            printer.print_string(", ")
            print_fields(printer, [(k, str(getattr(self, k).data)) for k in _MODEL_INT_FIELDS])

    def verify(self) -> None:
        for key in ("hidden", "ffn", "experts", "top_k", "bytes"):
            if getattr(self, key).data <= 0:
                raise VerifyException(
                    f"model {key} must be positive, got {getattr(self, key).data}"
                )
        if self.shared.data < 0:
            raise VerifyException(f"model shared must be >= 0, got {self.shared.data}")
        if self.top_k.data > self.experts.data:
            raise VerifyException(
                f"model top_k {self.top_k.data} exceeds the {self.experts.data} routed experts"
            )

    @property
    def expert_bytes(self) -> int:
        """Bytes of one SwiGLU expert: gate, up and down matrices, 3·D·F elements."""
        return 3 * self.hidden.data * self.ffn.data * self.bytes.data

    def expert_ops_per_token(self) -> int:
        """Multiply-adds count as 2 ops: 2·3·D·F ops per token for one expert."""
        return 2 * 3 * self.hidden.data * self.ffn.data


def routing_attr(routing: np.ndarray) -> DenseIntOrFPElementsAttr:
    """Build the `tokens x top_k` i32 routing tensor from an integer array."""
    array = np.ascontiguousarray(routing, dtype="<i4")
    if array.ndim != 2:
        raise ValueError(f"routing must be 2-D [tokens, top_k], got shape {array.shape}")
    return DenseIntOrFPElementsAttr(TensorType(i32, list(array.shape)), BytesAttr(array.tobytes()))


@irdl_op_definition
class LayerOp(IRDLOperation):
    """One MoE layer: a model shape plus the routed expert ids of every token."""

    name = "moe.layer"

    sym_name = prop_def(SymbolNameConstraint())
    model = prop_def(ModelAttr)
    routing = prop_def(DenseIntOrFPElementsAttr)

    traits = traits_def(SymbolOpInterface())

    @classmethod
    def parse(cls, parser: Parser) -> LayerOp:
        sym_name = parser.parse_symbol_name()
        parser.parse_keyword("model")
        start = parser.pos
        model = parser.parse_attribute()
        if not isinstance(model, ModelAttr):
            parser.raise_error(
                f"expected a #moe.model attribute, got {model}", start, end_of_parsed(parser, start)
            )
        parser.parse_keyword("routing")
        start = parser.pos
        routing = parser.parse_attribute()
        if not isinstance(routing, DenseIntOrFPElementsAttr):
            parser.raise_error(
                "expected the routing as a dense<...> integer tensor",
                start,
                end_of_parsed(parser, start),
            )
        attributes = parser.parse_optional_attr_dict()
        op = cls.create(properties={"sym_name": sym_name, "model": model, "routing": routing})
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        # xDSL prints tensors of more than 100 elements as hex; routing is read by people, so
        # print it as nested lists with one token per line.
        printer.print_string(" ")
        printer.print_symbol_name(self.sym_name.data)
        printer.print_string(" model ")
        printer.print_attribute(self.model)
        printer.print_string(" routing dense<[")
        with printer.indented():
            for index, row in enumerate(self.routing_array().tolist()):
                printer.print_string("," if index else "")
                printer._print_new_line()  # noqa: SLF001 - no public newline call in xDSL 0.75
                printer.print_string("[" + ", ".join(map(str, row)) + "]")
        printer._print_new_line()  # noqa: SLF001
        printer.print_string("]> : ")
        printer.print_attribute(self.routing.type)
        printer.print_op_attributes(self.attributes)

    def __init__(self, sym_name: str, model: ModelAttr, routing: np.ndarray):
        super().__init__(
            properties={
                "sym_name": StringAttr(sym_name),
                "model": model,
                "routing": routing_attr(routing),
            }
        )

    @property
    def num_tokens(self) -> int:
        return self.routing.get_shape()[0]

    def routing_array(self) -> np.ndarray:
        """The routing as a read-only int64 `[tokens, top_k]` array."""
        element = self.routing.get_element_type()
        width = element.width.data if isinstance(element, IntegerType) else 0
        dtype = {8: "<i1", 16: "<i2", 32: "<i4", 64: "<i8"}.get(width)
        if dtype is None:
            raise VerifyException(f"routing must hold integers, got element type {element}")
        flat = np.frombuffer(self.routing.data.data, dtype=dtype).astype(np.int64)
        return flat.reshape(self.routing.get_shape())

    def verify_(self) -> None:
        shape = self.routing.get_shape()
        model = self.model
        if len(shape) != 2:
            raise VerifyException(f"routing must be a 2-D tokens x top_k tensor, got shape {shape}")
        if shape[0] <= 0:
            raise VerifyException("routing must hold at least one token")
        if shape[1] != model.top_k.data:
            raise VerifyException(
                f"routing has {shape[1]} expert ids per token, but the model's top_k is "
                f"{model.top_k.data}"
            )
        problem = find_routing_error(self.routing_array(), model.experts.data)
        if problem is not None:
            raise VerifyException(problem)


def find_routing_error(routing: np.ndarray, experts: int) -> str | None:
    """Describe the first expert id out of range or repeated within a token; None if all good.

    Shared by the verifier and the front end, so both say the same thing about the same routing.
    """
    bad = np.argwhere((routing < 0) | (routing >= experts))
    if len(bad):
        token, slot = bad[0]
        return (
            f"token {token} routes to expert {routing[token, slot]}, outside the "
            f"{experts} routed experts [0, {experts - 1}]"
        )
    ordered = np.sort(routing, axis=1)
    repeated = np.argwhere(ordered[:, 1:] == ordered[:, :-1])
    if len(repeated):
        token, slot = repeated[0]
        return f"token {token} routes to expert {ordered[token, slot]} more than once"
    return None


MoE = Dialect("moe", [LayerOp], [ModelAttr])
