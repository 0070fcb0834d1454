"""`partition-tokens{policy=block|round-robin}`: data-parallel placement of the tokens (R2).

Tokens are stationary under FSE-DP: chiplet k holds a fixed share of the batch for the whole
layer. The pass records the owner chiplet of every token in one `chiplet.partition` op.

- `block` (default): contiguous runs of tokens. When the token count T does not divide evenly
  among the C chiplets, the first `T mod C` chiplets hold one extra token (as the study does),
  so shares differ by at most one; with T < C the last chiplets hold none.
- `round-robin`: token t goes to chiplet `t mod C` (same share sizes, interleaved ids).

Before (2x2 mesh, 6 tokens):

```mlir
moe.layer @layer0 model #moe.model<...> routing dense<[[0, 1], ...]> : tensor<6x2xi32>
```

After `partition-tokens{policy=block}`:

```mlir
moe.layer @layer0 ...
chiplet.partition policy "block" owners array<i64: 0, 0, 1, 1, 2, 3>
```
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr

from dialects.attrs import i64_array
from dialects.chiplet import PartitionOp
from passes._plan import FsedpPass, block_owners, read_layer, replace_ops

POLICIES = ("block", "round-robin")


@dataclass(frozen=True)
class PartitionTokensPass(FsedpPass):
    name = "partition-tokens"

    policy: str = "block"

    def __post_init__(self) -> None:
        self.check_choice("policy", self.policy, POLICIES)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        layer = read_layer(op, self.name)
        if self.policy == "block":
            owners = block_owners(layer.tokens, layer.chiplets)
        else:
            owners = [token % layer.chiplets for token in range(layer.tokens)]
        partition = PartitionOp.create(
            properties={"policy": StringAttr(self.policy), "owners": i64_array(owners)}
        )
        replace_ops(op, PartitionOp, [partition])
