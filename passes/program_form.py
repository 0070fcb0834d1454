"""`program-form{ops=true|false}`: a program's instructions as xDSL ops, or as data.

The compiler builds every `cisa.program` as data (its `code`, dialects/cisa_model.py): a layer
lowers to 10^4-10^6 instructions, and everything that reads programs reads that form. An IR
pass that rewrites instructions needs them as ops: `program-form` (`ops=true`) makes them ops in
the program's region; `program-form{ops=false}` turns them back into data. Both are lossless;
programs already in the asked form are left alone, and both forms print alike.

Before (data; the generic form shows the `code` property):

```mlir
"cisa.program"() <{chiplet = 1 : i64, code = #cisa.code<"cisa.end">, sym_name = "chiplet1"}> ({
}) : () -> ()
```

After `program-form`:

```mlir
"cisa.program"() <{chiplet = 1 : i64, sym_name = "chiplet1"}> ({
  "cisa.end"() : () -> ()
}) : () -> ()
```
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from dialects.cisa import ProgramOp, dematerialize, materialize
from passes._plan import FsedpPass


@dataclass(frozen=True)
class ProgramFormPass(FsedpPass):
    name = "program-form"

    ops: bool = True

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        change = materialize if self.ops else dematerialize
        for program in [o for o in op.walk() if isinstance(o, ProgramOp)]:
            try:
                change(program)
            except ValueError as error:
                raise self.error(f"chiplet {program.chiplet.value.data}: {error}") from None
