"""Every size and range limit on user input, in one place, with its unit and why.

Input beyond a limit is refused up front, before anything large is allocated or computed, with
an error that names the field, the limit and the value given (README, "Limits"). The limits
are far above every model and machine of the study (DESIGN.md §4-5) and chosen so that an input
at the limit still compiles and simulates on a workstation; nothing is clamped or rounded.
"""

# -- the machine (system fields) ---------------------------------------------------------------

# chiplets per mesh row and per mesh column: up to 16x16 = 256 chiplets. The study's meshes are
# 2x2 to 4x4; XY routes and per-chiplet programs grow with the square of the chiplet count.
MAX_MESH_SIDE = 16
# bytes of SRAM per chiplet: 1 TiB, far above any SRAM; keeps byte sums well inside 64 bits.
MAX_SRAM_BYTES = 2**40
# matrix-engine ops per cycle per chiplet: 16M (a whole H100 does about 0.5M per cycle).
MAX_OPS_PER_CYCLE = 2**24
# cycles added per D2D hop: 1M cycles (1 ms at 1 GHz); simulated times stay exact in a float.
MAX_HOP_LATENCY_CYCLES = 2**20
# micro-slice buffers per chiplet: 4096, more than the slices of 256 experts at 16 per expert.
MAX_SLICE_BUFFERS = 4096
# DDR channels: 1024, four per chiplet of the largest mesh.
MAX_DDR_CHANNELS = 1024
# GHz, inclusive range of the chiplet clock: 1 MHz to 100 GHz.
CLOCK_GHZ_RANGE = (0.001, 100.0)
# GB/s, inclusive range of a DDR channel's and a D2D link's bandwidth: 1 MB/s to 1 PB/s. The low
# end also keeps bytes / bandwidth finite (a denormal bandwidth would make latencies inf or NaN).
BANDWIDTH_GBPS_RANGE = (0.001, 1e6)

# -- the model and the workload ----------------------------------------------------------------

# elements, hidden (D) and expert FFN (F) dimensions: 64K; the largest published MoE has 7168.
MAX_DIMENSION = 65536
# bytes per weight or activation element: up to 8 (fp64); the study uses 1 (int8).
MAX_ELEMENT_BYTES = 8
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

# levels of brackets and calls in one .moe value: a routing needs 2, strategy options 1 or 2.
# Deeper input is refused before the (recursive) tree walk sees it.
MAX_MOE_NESTING = 64
# levels of arrays and objects in a JSON routing trace or config.json: traces need 3, configs
# about 4. Deeper input is refused before Python's (recursive) JSON reader sees it.
MAX_JSON_NESTING = 64
