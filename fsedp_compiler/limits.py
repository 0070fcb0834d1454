"""Every size and range limit on user input, in one place, with its unit and why.

Input beyond a limit is refused up front, before anything large is allocated or computed, with
an error that names the field, the limit and the value given (README, "Limits"). The limits
are far above every model and machine of the study (docs/design.md §5-6) and chosen so that an input
at the limit still compiles and simulates on a workstation; nothing is clamped or rounded.
"""

from dialects.cisa_rules import MAX_FIELD as _CISA_FIELD
from dialects.cisa_rules import MAX_PROGRAM_TOTAL as _CISA_PROGRAM_TOTAL
from dialects.machine import GBPS_RANGE
from dialects.machine import SYSTEM_FIELDS as _SYSTEM

# -- the machine (system fields) ---------------------------------------------------------------

# Every system field's range, with why it ends there, is a row of the field table
# (dialects/machine.py, SYSTEM_FIELDS), from which validation, the IR and the README's table are
# derived. The names below read it for the code and tests that quote a limit.
MAX_MESH_SIDE = _SYSTEM["rows"].kind.high
MAX_SRAM_BYTES = _SYSTEM["sram_bytes"].kind.high
MAX_OPS_PER_CYCLE = _SYSTEM["ops_per_cycle"].kind.high
MAX_HOP_LATENCY_CYCLES = _SYSTEM["hop_latency_cycles"].kind.high
MAX_SLICE_BUFFERS = _SYSTEM["slice_buffers"].kind.high
MAX_DDR_CHANNELS = _SYSTEM["ddr"].kind.most
MAX_LINKS = _SYSTEM["links"].kind.most
CLOCK_GHZ_RANGE = (_SYSTEM["clock_ghz"].kind.low, _SYSTEM["clock_ghz"].kind.high)
BANDWIDTH_GBPS_RANGE = GBPS_RANGE

# -- the model and the workload ----------------------------------------------------------------

# elements, hidden (D) and expert FFN (F) dimensions: 64K; the largest published MoE has 7168.
MAX_DIMENSION = 65536
# bytes per weight or activation element: up to 8 (fp64); the study uses 1 (int8). The system's
# element_bytes has the same limit (its row in the field table).
MAX_ELEMENT_BYTES = _SYSTEM["element_bytes"].kind.high
# routed experts per layer: 4096; DeepSeek-V3 has 256.
MAX_EXPERTS = 4096
# shared experts per layer: 64; published models have at most 2.
MAX_SHARED = 64
# MoE layers of a model, and layers in a routing file: 1024; DeepSeek-V3 has 58.
MAX_LAYERS = 1024
# tokens per layer (the routing's rows): 64K; the study's batches have at most 1024 tokens.
MAX_TOKENS = 65536
# (token, expert) pairs per layer, tokens x top_k: 1M, e.g. 65536 tokens at top-16. Each pair is
# matrix work the compiler schedules; the study's largest workload has 8192 (1024 at top-8).
MAX_ROUTED_IDS = 2**20
# zipf routing's exponent s, exclusive low end, inclusive high end: a larger s gives every weight
# 1/r^s of 0 but the top expert's (and 4096^s overflows a float beyond s of about 85).
ZIPF_S_RANGE = (0.0, 64.0)
# dirichlet routing's alpha, exclusive low end, inclusive high end: beyond 1e6 every expert is
# equally popular to within a millionth.
DIRICHLET_ALPHA_RANGE = (0.0, 1e6)

# -- text and files ----------------------------------------------------------------------------

# bytes of a JSON or JSON Lines routing trace: 1 GiB. The largest routing (2^20 ids) takes
# about 8 MB as JSON; a JSON Lines file of many layers is read whole, so it gets room for
# about a hundred of them. Read no further than the limit (a device has no end).
MAX_TRACE_FILE_BYTES = 2**30
# bytes of a HuggingFace config.json: 16 MiB; real ones are a few KB.
MAX_CONFIG_FILE_BYTES = 2**24
# bytes of the input file by format: a .moe file, 64 MiB (an inline routing of the most
# expert ids the limits allow takes about 8 MB); MLIR text, 2 GiB (lowered programs at the
# instruction limit take about 1 GB).
MAX_INPUT_BYTES = {"moe": 2**26, "mlir": 2**31}

# levels of brackets and calls in one .moe value: a routing needs 2, strategy options 1 or 2.
# Deeper input is refused before the (recursive) tree walk sees it.
MAX_MOE_NESTING = 64
# levels of arrays and objects in a JSON routing trace or config.json: traces need 3, configs
# about 4. Deeper input is refused before Python's (recursive) JSON reader sees it.
MAX_JSON_NESTING = 64
# levels of brackets, braces and parentheses in MLIR text: a lowered module needs about 8 in
# generic form. Deeper input is refused before xDSL's (recursive) parser sees it, which fails
# somewhere between 90 and 150 levels.
MAX_MLIR_NESTING = 64

# -- the programs ------------------------------------------------------------------------------

# instructions in the programs of one layer, over all chiplets: 16M. lower-to-cisa refuses a
# plan whose count (an upper bound computed from the plan, before anything is built) is
# larger. DeepSeek-V3 at 1024 tokens on an 8x8 mesh has 2.9M; simulating it peaks at 870-910
# MiB, about 300 bytes per instruction (SIMULATOR_BYTES_PER_INSTRUCTION, measured with
# benchmarks/scale.py; 16.5M instructions peaked at 4.4 GiB, 280 bytes each).
MAX_INSTRUCTIONS = 2**24
# slices over all experts of a layer: 256K. The plan passes take about 20 us per slice, so the
# limit bounds planning to a few seconds; DeepSeek-V3 at 1024 tokens has 256 experts x 16.
MAX_SLICES = 2**18
# fields of one instruction, and their sums over a program: the ranges are the program rules'
# (dialects/cisa_rules.py, MAX_FIELD and MAX_PROGRAM_TOTAL), read here. A bytes field is at most
# 2^48 (a whole expert at the model limits is about 2^36.6 B), an ops field at most 2^56 (a
# gemm on that expert for 65536 tokens is about 2^50.6), and a program's bytes fields, and its
# ops fields, add up to at most 2^62, so the live-SRAM, traffic and work sums stay in int64.
MAX_INSTRUCTION_BYTES = _CISA_FIELD["bytes"]
MAX_INSTRUCTION_OPS = _CISA_FIELD["ops"]
MAX_PROGRAM_TOTAL = _CISA_PROGRAM_TOTAL
SIMULATOR_BYTES_PER_INSTRUCTION = 300
