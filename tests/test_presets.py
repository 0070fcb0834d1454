"""Hardware and model presets, their field documentation, overrides, and the error format."""

import dataclasses

import pytest

from dialects.machine import MachineError
from fsedp_compiler import limits
from fsedp_compiler.errors import FsedpError
from fsedp_compiler.presets import (
    DEFAULT_HOP_LATENCY_CYCLES,
    DEFAULT_SRAM_BYTES,
    MODEL_FIELDS,
    MODEL_PRESETS,
    SYSTEM_FIELDS,
    SYSTEM_PRESETS,
    DdrChannel,
    Link,
    ModelSpec,
    SystemSpec,
    get_model,
    get_system,
    paper_mesh,
    with_overrides,
)

# docs/design.md §6, copied here on purpose so a slip in presets.py shows up as a mismatch.
DESIGN_MODELS = {
    "qwen3-30b-a3b": (2048, 768, 128, 0, 8, 48),
    "deepseek-moe-16b": (2048, 1408, 64, 2, 6, 27),
    "phi-3.5-moe": (4096, 6400, 16, 0, 2, 32),
    "yuan2.0-m32": (2048, 8192, 32, 0, 2, 24),
    "mixtral-8x7b": (4096, 14336, 8, 0, 2, 32),
    "olmoe-1b-7b": (2048, 1024, 64, 0, 8, 16),
    "deepseek-v2-lite": (2048, 1408, 64, 2, 6, 26),
    "deepseek-v3": (7168, 2048, 256, 1, 8, 58),
}


# --- presets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SYSTEM_PRESETS))
def test_system_preset_validates_and_is_named_by_its_key(name):
    spec = SYSTEM_PRESETS[name]
    spec.validate()
    assert spec.name == name
    assert get_system(name) is spec


@pytest.mark.parametrize("name", sorted(MODEL_PRESETS))
def test_model_preset_validates_and_is_named_by_its_key(name):
    spec = MODEL_PRESETS[name]
    spec.validate()
    assert spec.name == name
    assert get_model(name) is spec


def test_model_presets_are_exactly_the_design_table():
    assert set(MODEL_PRESETS) == set(DESIGN_MODELS)
    for name, (hidden, ffn, experts, shared, top_k, layers) in DESIGN_MODELS.items():
        spec = MODEL_PRESETS[name]
        assert (spec.hidden, spec.ffn, spec.experts, spec.shared, spec.top_k, spec.layers) == (
            hidden,
            ffn,
            experts,
            shared,
            top_k,
            layers,
        ), name
        assert spec.element_bytes == 1  # the study runs int8


def test_paper_2x2_matches_the_study():
    spec = get_system("paper-2x2")
    assert (spec.rows, spec.cols, spec.chiplets) == (2, 2, 4)
    assert spec.clock_ghz == 0.8
    assert spec.cycles_per_second == pytest.approx(0.8e9)
    assert spec.ops_per_cycle == 2048
    assert spec.ops_per_cycle * spec.cycles_per_second == pytest.approx(1.6384e12)  # "1.64 TOP/s"
    assert spec.ddr == tuple(DdrChannel(25.6, chiplet) for chiplet in (0, 1, 2, 3))
    assert spec.d2d_gbps == 288.0
    assert spec.element_bytes == 1
    assert spec.slice_buffers == 12
    assert spec.sram_bytes == DEFAULT_SRAM_BYTES
    assert spec.hop_latency_cycles == DEFAULT_HOP_LATENCY_CYCLES


@pytest.mark.parametrize(
    "name, corners, gbps",
    [("paper-3x3", {0, 2, 6, 8}, 1.5 * 25.6), ("paper-4x4", {0, 3, 12, 15}, 2.0 * 25.6)],
)
def test_larger_meshes_keep_four_corner_channels_with_more_bandwidth(name, corners, gbps):
    spec = get_system(name)
    assert len(spec.ddr) == 4
    assert {channel.chiplet for channel in spec.ddr} == corners
    assert all(channel.gbps == pytest.approx(gbps) for channel in spec.ddr)
    reference = get_system("paper-2x2")
    same = (
        "clock_ghz",
        "ops_per_cycle",
        "sram_bytes",
        "d2d_gbps",
        "hop_latency_cycles",
        "element_bytes",
    )
    for field in same:
        assert getattr(spec, field) == getattr(reference, field), field
    # 2 more slice buffers per extra hop of mesh diameter (deeper trajectories)
    diameter = 2 * (spec.rows - 1)
    assert spec.slice_buffers == reference.slice_buffers + 2 * (diameter - 2)


def test_paper_2x2_is_the_field_tables_defaults_and_the_study_mesh():
    spec = get_system("paper-2x2")
    assert all(getattr(spec, name) == f.default for name, f in SYSTEM_FIELDS.items())
    assert paper_mesh(2, 25.6, 12) == spec
    assert spec.topology == "mesh" and spec.links == ()


def test_expert_bytes_counts_all_three_matrices():
    assert get_model("qwen3-30b-a3b").expert_bytes == 3 * 2048 * 768
    assert (
        dataclasses.replace(get_model("mixtral-8x7b"), element_bytes=2).expert_bytes
        == 2 * 3 * 4096 * 14336
    )


def test_specs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_system("paper-2x2").rows = 3


# --- field documentation ----------------------------------------------------------------------


def test_field_tables_document_every_field_in_order():
    assert ["name", *SYSTEM_FIELDS] == [field.name for field in dataclasses.fields(SystemSpec)]
    for name, info in SYSTEM_FIELDS.items():
        assert info.unit and info.meaning and info.source and info.why, name
    assert list(MODEL_FIELDS) == [field.name for field in dataclasses.fields(ModelSpec)]
    for name, info in MODEL_FIELDS.items():
        assert info.unit and info.doc and info.source, name


def test_assumed_defaults_say_so():
    for name in ("sram_bytes", "hop_latency_cycles"):
        assert "assumption" in SYSTEM_FIELDS[name].source
    assert "assumption" not in SYSTEM_FIELDS["d2d_gbps"].source


# --- lookups and overrides --------------------------------------------------------------------


def test_unknown_system_lists_known_names_sorted():
    with pytest.raises(FsedpError) as info:
        get_system("paper-8x8")
    assert (
        info.value.message
        == "unknown system preset 'paper-8x8'; known: paper-2x2, paper-3x3, paper-4x4"
    )


def test_unknown_model_lists_known_names_sorted():
    with pytest.raises(FsedpError) as info:
        get_model("gpt-5")
    assert info.value.message == "unknown model preset 'gpt-5'; known: " + ", ".join(
        sorted(DESIGN_MODELS)
    )


def test_override_makes_a_changed_copy():
    base = get_system("paper-2x2")
    changed = with_overrides(base, {"sram_bytes": 1 << 20, "hop_latency_cycles": 0})
    assert (changed.sram_bytes, changed.hop_latency_cycles) == (1 << 20, 0)
    assert changed.ddr == base.ddr
    assert base.sram_bytes == DEFAULT_SRAM_BYTES


def test_override_accepts_text_for_numeric_fields():
    changed = with_overrides(get_system("paper-2x2"), {"sram_bytes": "4096", "clock_ghz": "1.25"})
    assert changed.sram_bytes == 4096
    assert changed.clock_ghz == 1.25
    with pytest.raises(FsedpError, match="'sram_bytes' expects an integer, got '4k'"):
        with_overrides(get_system("paper-2x2"), {"sram_bytes": "4k"})


def test_model_override_and_new_ddr_channels():
    model = with_overrides(get_model("deepseek-v3"), {"top_k": 4, "shared": 0})
    assert (model.top_k, model.shared) == (4, 0)
    system = with_overrides(get_system("paper-2x2"), {"ddr": (DdrChannel(51.2, 3),)})
    assert system.ddr == (DdrChannel(51.2, 3),)


def test_unknown_override_field_lists_valid_fields():
    with pytest.raises(FsedpError) as info:
        with_overrides(get_system("paper-2x2"), {"sram_kib": 12})
    assert info.value.message.startswith(
        "unknown system field 'sram_kib'; valid fields: name, rows, cols"
    )
    assert "slice_buffers" in info.value.message
    with pytest.raises(FsedpError, match="unknown model field 'topk'; valid fields: name, hidden"):
        with_overrides(get_model("mixtral-8x7b"), {"topk": 2})


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"rows": 0}, "'rows' must be positive, got 0"),
        ({"cols": -1}, "'cols' must be positive, got -1"),
        ({"rows": 2.5}, "'rows' must be an integer"),
        ({"rows": True}, "'rows' must be an integer"),
        ({"clock_ghz": 0}, "'clock_ghz' is 0, outside the range 0.001 to 100.0 GHz"),
        ({"clock_ghz": float("nan")}, "'clock_ghz' must be finite, got nan"),
        ({"clock_ghz": float("inf")}, "'clock_ghz' must be finite, got inf"),
        ({"clock_ghz": 10**400}, "'clock_ghz' is 1000000000"),  # exact, not a float overflow
        ({"rows": 17}, "'rows' is 17, more than the limit of 16 chiplets"),
        ({"cols": 10**23}, f"'cols' is {10**23}, more than the limit of 16"),
        (
            {"ops_per_cycle": 2**24 + 1},
            "'ops_per_cycle' is 16777217, more than the limit of 16777216",
        ),
        (
            {"sram_bytes": 2**40 + 1},
            "'sram_bytes' is 1099511627777, more than the limit of 1099511627776 bytes",
        ),
        (
            {"hop_latency_cycles": 10**23},
            "'hop_latency_cycles' is 100000000000000000000000, more than the limit of 1048576 cycles",
        ),
        ({"element_bytes": 9}, "'element_bytes' is 9, more than the limit of 8 bytes"),
        ({"slice_buffers": 4097}, "'slice_buffers' is 4097, more than the limit of 4096 slices"),
        (
            {"ddr": (DdrChannel(25.6, 0),) * 1025},
            "'ddr' has 1025 channels, more than the limit of 1024",
        ),
        ({"ddr": (DdrChannel(float("inf"), 0),)}, "'ddr[0].gbps' must be finite, got inf"),
        (
            {"d2d_gbps": 1e-320},
            "'d2d_gbps' is 1e-320, outside the range 0.001 to 1000000.0",
        ),
        ({"d2d_gbps": 1e7}, "'d2d_gbps' is 10000000.0, outside the range"),
        ({"ops_per_cycle": 0}, "'ops_per_cycle' must be positive"),
        ({"sram_bytes": 0}, "'sram_bytes' must be positive"),
        ({"ddr": ()}, "'ddr' needs at least one DDR channel, got none"),
        ({"ddr": ((25.6, 0),)}, "'ddr' must be a tuple of DdrChannel"),
        (
            {"ddr": (DdrChannel(0.0, 0),)},
            "'ddr[0].gbps' is 0.0, outside the range 0.001 to 1000000.0 GB/s",
        ),
        (
            {"ddr": (DdrChannel(25.6, 0), DdrChannel(25.6, 4))},
            "'ddr[1]' names chiplet 4, which is not on the 2x2 grid (chiplet ids 0..3)",
        ),
        ({"ddr": (DdrChannel(25.6, -1),)}, "'ddr[0]' names chiplet -1, which is not on the"),
        ({"ddr": (DdrChannel(25.6, 1.5),)}, "'ddr[0]' must name a chiplet by its integer id"),
        ({"rows": 1}, "'ddr[2]' names chiplet 2, which is not on the 1x2 grid"),
        ({"d2d_gbps": -288.0}, "'d2d_gbps' is -288.0, outside the range"),
        ({"hop_latency_cycles": -1}, "'hop_latency_cycles' must be >= 0"),
        ({"element_bytes": 0}, "'element_bytes' must be positive"),
        ({"slice_buffers": 1}, "'slice_buffers' must be >= 2"),
        ({"name": ""}, "'name' must be a non-empty string"),
        ({"topology": "hypercube"}, "'topology' must be one of mesh, torus, ring, custom"),
        ({"links": (Link(0, 1),)}, "'links' lists the links of topology 'custom' only"),
        (
            {"topology": "custom"},
            "'topology' is 'custom', but 'links' lists no link between its 4 chiplets",
        ),
    ],
)
def test_invalid_system_override_names_field_and_value(fields, needle):
    with pytest.raises(FsedpError) as info:
        with_overrides(get_system("paper-2x2"), fields)
    assert needle in info.value.message


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"hidden": 0}, "'hidden' must be positive, got 0"),
        ({"ffn": -5}, "'ffn' must be positive, got -5"),
        ({"experts": 0}, "'experts' must be positive"),
        ({"shared": -1}, "'shared' must be >= 0, got -1"),
        ({"top_k": 0}, "'top_k' must be positive"),
        ({"top_k": 9}, "'top_k' is 9, more than experts = 8"),
        ({"experts": 1}, "'top_k' is 2, more than experts = 1"),
        ({"layers": 0}, "'layers' must be positive"),
        ({"element_bytes": 0}, "'element_bytes' must be positive"),
        ({"hidden": 65537}, "'hidden' is 65537, more than the limit of 65536 elements"),
        ({"ffn": 10**12}, "'ffn' is 1000000000000, more than the limit of 65536 elements"),
        ({"experts": 10**9}, "'experts' is 1000000000, more than the limit of 4096 experts"),
        ({"shared": 100000}, "'shared' is 100000, more than the limit of 64 experts"),
        ({"layers": 10**12}, "'layers' is 1000000000000, more than the limit of 1024 layers"),
        ({"element_bytes": 16}, "'element_bytes' is 16, more than the limit of 8 bytes"),
    ],
)
def test_invalid_model_override_names_field_and_value(fields, needle):
    with pytest.raises(FsedpError) as info:
        with_overrides(get_model("mixtral-8x7b"), fields)
    assert needle in info.value.message


CUSTOM = {"topology": "custom", "links": (Link(0, 1), Link(1, 3, 144.0), Link(3, 2))}


@pytest.mark.parametrize(
    "links, needle",
    [
        ((Link(0, 1), Link(1, 4)), "'links[1]' names chiplet 4, which is not on the 2x2 grid"),
        ((Link(0, 1), Link(2, 2)), "'links[1]' links chiplet 2 to itself"),
        (
            (Link(0, 1), Link(1, 2), Link(1, 0)),
            "'links[2]' repeats the link 1-0 of links[0]; a link goes both ways",
        ),
        ((Link(0, 1, 0.0),), "'links[0].gbps' is 0.0, outside the range 0.001 to 1000000.0"),
        (
            (Link(0, 1), Link(1, 3)),
            "'links' leaves chiplet 2 unreachable from DDR channel 0 (at chiplet 0)",
        ),
        ((Link(0, 1),) * 4097, "'links' has 4097 links, more than the limit of 4096"),
    ],
)
def test_invalid_custom_links_name_the_link(links, needle):
    with pytest.raises(FsedpError) as info:
        with_overrides(get_system("paper-2x2"), CUSTOM | {"links": links})
    assert needle in info.value.message


def test_unreachable_chiplet_is_named_even_when_channels_sit_on_both_sides():
    # Two islands, each with DDR: every chiplet reaches a channel, but 0 cannot reach 2.
    islands = CUSTOM | {"links": (Link(0, 1), Link(2, 3))}
    with pytest.raises(FsedpError, match="leaves chiplet 2 unreachable from DDR channel 0"):
        with_overrides(get_system("paper-2x2"), islands)


def test_topologies_that_are_valid():
    base = get_system("paper-2x2")
    assert with_overrides(base, CUSTOM).links == CUSTOM["links"]
    assert with_overrides(base, {"topology": "torus"}).topology == "torus"
    ring = with_overrides(base, {"topology": "ring", "rows": 1, "cols": 4})
    assert ring.chiplets == 4
    single = {"topology": "custom", "rows": 1, "cols": 1, "ddr": (DdrChannel(25.6, 0),)}
    one = with_overrides(base, single)
    assert one.chiplets == 1


def test_system_spec_validate_raises_machine_error():
    with pytest.raises(MachineError, match="'rows' must be positive"):
        get_system("paper-2x2").replace(rows=0).validate()


def test_edge_values_that_are_valid():
    with_overrides(
        get_system("paper-2x2"),
        {"rows": 1, "cols": 1, "ddr": (DdrChannel(1, 0),), "slice_buffers": 2},
    )
    with_overrides(get_model("mixtral-8x7b"), {"top_k": 8, "shared": 0})


def test_values_at_the_limits_are_valid():
    at_limits = {
        "rows": limits.MAX_MESH_SIDE,
        "cols": limits.MAX_MESH_SIDE,
        "clock_ghz": limits.CLOCK_GHZ_RANGE[1],
        "ops_per_cycle": limits.MAX_OPS_PER_CYCLE,
        "sram_bytes": limits.MAX_SRAM_BYTES,
        "ddr": (DdrChannel(limits.BANDWIDTH_GBPS_RANGE[0], 255),) * limits.MAX_DDR_CHANNELS,
        "d2d_gbps": limits.BANDWIDTH_GBPS_RANGE[1],
        "hop_latency_cycles": limits.MAX_HOP_LATENCY_CYCLES,
        "element_bytes": limits.MAX_ELEMENT_BYTES,
        "slice_buffers": limits.MAX_SLICE_BUFFERS,
    }
    assert with_overrides(get_system("paper-2x2"), at_limits).chiplets == 256
    with_overrides(get_system("paper-2x2"), {"clock_ghz": limits.CLOCK_GHZ_RANGE[0]})
    model = {
        "hidden": limits.MAX_DIMENSION,
        "ffn": limits.MAX_DIMENSION,
        "experts": limits.MAX_EXPERTS,
        "shared": limits.MAX_SHARED,
        "top_k": limits.MAX_EXPERTS,
        "layers": limits.MAX_LAYERS,
        "element_bytes": limits.MAX_ELEMENT_BYTES,
    }
    assert with_overrides(get_model("mixtral-8x7b"), model).experts == 4096


# --- error format -----------------------------------------------------------------------------


def test_error_format_with_location_and_caret():
    error = FsedpError(
        "unknown op 'foo'", file="a.moe", line=3, column=5, source_line="    foo x\n"
    )
    assert error.format() == "a.moe:3:5: error: unknown op 'foo'\n    foo x\n    ^"
    assert str(error) == error.format()


def test_error_format_keeps_tabs_for_the_caret():
    error = FsedpError("bad", file="a.moe", line=1, column=3, source_line="\tx y")
    assert error.format().splitlines()[-1] == "\t ^"


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, "error: boom"),
        ({"file": "t.json"}, "t.json: error: boom"),
        ({"file": "t.json", "line": 7}, "t.json:7: error: boom"),
        ({"line": 7, "column": 2}, "<input>:7:2: error: boom"),
        ({"file": "t.json", "line": 7, "column": 2}, "t.json:7:2: error: boom"),
        ({"file": "t.json", "source_line": "x"}, "t.json: error: boom"),  # no column: no caret
    ],
)
def test_error_format_location_parts_are_optional(kwargs, expected):
    assert FsedpError("boom", **kwargs).format() == expected


def test_error_format_shows_line_separators_as_spaces():
    # A terminal may break the quoted line at U+2028 and move the caret off its column.
    error = FsedpError("bad", file="a.moe", line=1, column=3, source_line="a\u2028b\x0bc")
    assert error.format().splitlines()[1:] == ["a b c", "  ^"]
