"""Metrics of a run (docs/design.md, "Metrics"): the JSON report, its text summary and the
per-chiplet CSV.

Definitions (docs/simulator.md repeats them):

- latency: completion of the last instruction of any program, in cycles and µs;
- compute utilization of a chiplet: matrix-engine busy cycles / latency;
- DDR channel / link utilization: bytes carried / (bandwidth in bytes per cycle × latency);
  `busy_cycles` is the time at least one flow used it;
- SRAM: peak bytes in use (weights + activations, and each kind's own peak) and the
  time-weighted average over [0, latency];
- slice visit: a weight buffer receiving data on a chiplet (by `load` or `recv`); a zero-token
  visit is one whose data no `gemm` on that chiplet reads before the buffer is refilled or freed;
- lower bound of the program: the largest of total DDR bytes / total DDR bandwidth, the busiest
  DDR channel's bytes / its bandwidth, the busiest chiplet's engine ops / its rate and the
  busiest link's bytes / its bandwidth;
- workload lower bound (needs the `moe.layer`): the largest of the weights of every expert the
  routing uses (plus the shared ones), loaded once, / total DDR bandwidth, and the layer's
  total ops spread evenly over all chiplets. It is the same for every strategy.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np

from backends.sim.engine import RunResult
from backends.sim.program import FlatProgram
from fsedp_compiler.record import format_options

REPORT_SCHEMA = "fsedp-sim-report/1"


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits)


def _ratio(a: float, b: float) -> float:
    return _r(a / b) if b > 0 else 0.0


def program_lower_bound(flat: FlatProgram, engine_ops, res_bytes) -> dict[str, Any]:
    m = flat.machine
    cap = m.capacities()
    channels = m.num_channels
    ddr_bytes = res_bytes[:channels]
    components = {
        "ddr_total": sum(ddr_bytes) / sum(cap[:channels]),
        "ddr_busiest_channel": max(b / c for b, c in zip(ddr_bytes, cap, strict=False)),
        "compute_busiest_chiplet": max(engine_ops) / m.ops_per_cycle,
        "busiest_link": max(
            (b / c for b, c in zip(res_bytes[channels:], cap[channels:], strict=True)),
            default=0.0,
        ),
    }
    return _bound(components)


def workload_lower_bound(flat: FlatProgram) -> dict[str, Any] | None:
    layer = flat.layer
    if layer is None:
        return None
    m = flat.machine
    model = layer.model
    routing = layer.routing_array()
    used = len(np.unique(routing)) + model.shared.data
    tokens = routing.shape[0]
    ops = tokens * (model.top_k.data + model.shared.data) * model.expert_ops_per_token()
    components = {
        "ddr_used_experts": used * model.expert_bytes / sum(m.capacities()[: m.num_channels]),
        "compute_balanced": ops / (m.num_chiplets * m.ops_per_cycle),
    }
    return _bound(components)


def _bound(components: dict[str, float]) -> dict[str, Any]:
    binding = max(components, key=lambda k: components[k])
    return {
        "cycles": _r(components[binding], 3),
        "bound_by": binding,
        "components": {k: _r(v, 3) for k, v in components.items()},
    }


def build_report(
    flat: FlatProgram, result: RunResult, numerics: dict[str, Any] | None = None
) -> dict[str, Any]:
    m = flat.machine
    latency = result.latency
    cap = m.capacities()
    channels = m.num_channels
    engine_ops, res_bytes, res_flows = flat.traffic()
    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "system": {
            "name": m.name,
            "mesh": f"{m.rows}x{m.cols}",
            **({"topology": m.topology} if m.topology != "mesh" else {}),  # as the IR prints it
            "clock_ghz": m.clock_ghz,
            "ops_per_cycle": m.ops_per_cycle,
            "sram_bytes": m.sram_bytes,
            "ddr_gbps": list(m.ddr_gbps),
            "d2d_gbps": m.d2d_gbps,
            "hop_latency": m.hop_latency,
        },
        "strategy": flat.strategy,
        "strategy_options": flat.strategy_options,
    }
    if flat.layer is not None:
        model = flat.layer.model
        report["workload"] = {
            "layer": flat.layer.sym_name.data,
            "model": model.model_name.data,
            "tokens": flat.layer.num_tokens,
            "hidden": model.hidden.data,
            "ffn": model.ffn.data,
            "experts": model.experts.data,
            "shared": model.shared.data,
            "top_k": model.top_k.data,
        }
    report["instructions"] = flat.num_instructions
    report["latency_cycles"] = _r(latency, 3)
    report["latency_us"] = _r(m.cycles_to_us(latency), 4)
    bound = program_lower_bound(flat, engine_ops, res_bytes)
    report["lower_bound"] = bound
    report["latency_over_lower_bound"] = _ratio(latency, bound["cycles"])
    workload = workload_lower_bound(flat)
    if workload is not None:
        report["workload_lower_bound"] = workload
        report["latency_over_workload_lower_bound"] = _ratio(latency, workload["cycles"])
    chiplets = []
    for p, chiplet in enumerate(flat.chiplet):
        busy = engine_ops[p] / m.ops_per_cycle
        chiplets.append(
            {
                "chiplet": chiplet,
                "finish_cycles": _r(result.finish[p], 3),
                "compute_busy_cycles": _r(busy, 3),
                "compute_ops": engine_ops[p],
                "compute_utilization": _ratio(busy, latency),
                "sram_peak_bytes": result.sram_peak[p],
                "sram_peak_weight_bytes": result.sram_peak_weight[p],
                "sram_peak_act_bytes": result.sram_peak_act[p],
                "sram_avg_weight_bytes": _r(result.sram_avg_weight[p], 1),
                "sram_avg_act_bytes": _r(result.sram_avg_act[p], 1),
                "slice_visits": flat.visits[p],
                "zero_token_visits": flat.zero_token_visits[p],
            }
        )
    report["chiplets"] = chiplets
    report["mean_compute_utilization"] = _r(
        sum(c["compute_utilization"] for c in chiplets) / len(chiplets)
    )
    report["peak_sram_bytes"] = max(result.sram_peak)
    loads = [len(queue) for queue in flat.channel_queue]
    report["ddr"] = {
        "bytes": sum(res_bytes[:channels]),
        "channels": [
            {
                "channel": ch,
                "chiplet": m.ddr_chiplets[ch],
                "gbps": m.ddr_gbps[ch],
                "loads": loads[ch],
                "bytes": res_bytes[ch],
                "busy_cycles": _r(result.resource_busy[ch], 3),
                "utilization": _ratio(res_bytes[ch], cap[ch] * latency),
            }
            for ch in range(channels)
        ],
    }
    links = []
    for k, (src, dst) in enumerate(m.links):
        r = channels + k
        links.append(
            {
                "from": src,
                "to": dst,
                "flows": res_flows[r],
                "bytes": res_bytes[r],
                "busy_cycles": _r(result.resource_busy[r], 3),
                "utilization": _ratio(res_bytes[r], cap[r] * latency),
            }
        )
    report["d2d"] = {"link_bytes": sum(link["bytes"] for link in links), "links": links}
    report["slice_visits"] = {
        "total": sum(flat.visits),
        "zero_token": sum(flat.zero_token_visits),
    }
    if numerics is not None:
        report["numerics"] = numerics
    return report


# Above this many chiplets the text summary gives totals and extremes instead of a line per
# chiplet and link (an 8x8 mesh would print some 300 lines); `fsedp-sim --full` lists them.
COMPACT_ABOVE = 16

_UNITS = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def _size(n: float) -> str:
    """`6.4 MiB`, `512 B`: a byte count rounded for reading."""
    for unit, step in _UNITS:
        if n >= step:
            return f"{n / step:.1f} {unit}"
    return f"{n:.0f} B"


def _bytes(n: int) -> str:
    """`6750208 B (6.4 MiB)`: exact, then rounded (as the compiler's messages say sizes)."""
    return f"{n} B ({_size(n)})" if n >= 1024 else f"{n} B"


def _percent(share: float) -> str:
    """A utilization as a percentage; one that rounds to 0.0 but is not 0 shows as <0.1%."""
    return "<0.1%" if 0 < share < 0.0005 else f"{100 * share:.1f}%"


def format_text(report: dict[str, Any], full: bool | None = None) -> str:
    """A readable summary of a report: a line per chiplet, DDR channel and busy link, or, above
    `COMPACT_ABOVE` chiplets unless `full`, their totals and extremes."""
    if full is None:
        full = len(report["chiplets"]) <= COMPACT_ABOVE
    s = report["system"]
    shape = f"{s['mesh']} {s.get('topology', 'mesh')}"
    out = [
        f"fsedp-sim: {s['name']} ({shape}, {s['clock_ghz']:g} GHz), strategy "
        f"{report['strategy'] or '-'}, {report['instructions']} instructions"
    ]
    if report.get("strategy_options"):
        out.append(f"options: {format_options(report['strategy_options'])}")
    if "workload" in report:
        w = report["workload"]
        out.append(
            f"workload: {w['model']} layer {w['layer']}, {w['tokens']} tokens, "
            f"{w['experts']} experts + {w['shared']} shared, top-{w['top_k']}"
        )
    out.append(f"latency: {report['latency_cycles']:.1f} cycles = {report['latency_us']:.3f} us")
    b = report["lower_bound"]
    out.append(
        f"lower bound: {b['cycles']:.1f} cycles ({b['bound_by']}); "
        f"latency / bound = {report['latency_over_lower_bound']:.3f}"
    )
    if "workload_lower_bound" in report:
        wb = report["workload_lower_bound"]
        out.append(
            f"workload lower bound: {wb['cycles']:.1f} cycles ({wb['bound_by']}); "
            f"latency / bound = {report['latency_over_workload_lower_bound']:.3f}"
        )
    out.append(f"compute: mean utilization {_percent(report['mean_compute_utilization'])}")
    out.append(
        f"SRAM: peak {_bytes(report['peak_sram_bytes'])} of {_bytes(s['sram_bytes'])} per chiplet"
    )
    out += _chiplet_lines(report["chiplets"]) if full else _chiplet_summary(report["chiplets"])
    out += _ddr_lines(report["ddr"], full)
    out += _link_lines(report["d2d"], full)
    v = report["slice_visits"]
    out.append(f"slice visits: {v['total']} ({v['zero_token']} with zero tokens)")
    if not full:
        out.append("(--full lists every chiplet, channel and link)")
    if "numerics" in report:
        out.append(format_numerics(report["numerics"]))
    return "\n".join(out) + "\n"


def _chiplet_lines(chiplets: list[dict[str, Any]]) -> list[str]:
    """One line per chiplet; SRAM: the peak in use, each kind's own peak and average."""
    columns = ("SRAM peak", "weights", "acts", "avg weights", "avg acts")
    keys = (
        "sram_peak_bytes",
        "sram_peak_weight_bytes",
        "sram_peak_act_bytes",
        "sram_avg_weight_bytes",
        "sram_avg_act_bytes",
    )
    out = [
        "  chiplet  finish_cycles   util%"
        + "".join(f"  {name:>11}" for name in columns)
        + "  visits  zero"
    ]
    for c in chiplets:
        out.append(
            f"  {c['chiplet']:>7}  {c['finish_cycles']:>13.1f}  "
            f"{_percent(c['compute_utilization']):>6}"
            + "".join(f"  {_size(c[key]):>11}" for key in keys)
            + f"  {c['slice_visits']:>6}  {c['zero_token_visits']:>4}"
        )
    return out


def _chiplet_summary(chiplets: list[dict[str, Any]]) -> list[str]:
    def extremes(key: str, show) -> str:
        low = min(chiplets, key=lambda c: (c[key], c["chiplet"]))
        high = max(chiplets, key=lambda c: (c[key], -c["chiplet"]))
        return (
            f"{show(low[key])} (chiplet {low['chiplet']}) to "
            f"{show(high[key])} (chiplet {high['chiplet']})"
        )

    cycles = lambda x: f"{x:.1f}"  # noqa: E731 - one-line formatters, as in the table above
    return [
        f"chiplets: {len(chiplets)}",
        f"  finish: {extremes('finish_cycles', cycles)} cycles",
        f"  compute utilization: {extremes('compute_utilization', _percent)}",
        f"  SRAM peak: {extremes('sram_peak_bytes', _size)}",
        f"  slice visits: {extremes('slice_visits', str)}",
    ]


def _ddr_lines(ddr: dict[str, Any], full: bool) -> list[str]:
    channels = ddr["channels"]
    out = [f"DDR: {_bytes(ddr['bytes'])} loaded over {len(channels)} channels"]
    listed = channels if full or len(channels) <= COMPACT_ABOVE else []
    for ch in listed:
        out.append(
            f"  channel {ch['channel']} at chiplet {ch['chiplet']}: {ch['loads']} loads, "
            f"{_bytes(ch['bytes'])}, utilization {_percent(ch['utilization'])}"
        )
    if not listed:
        busiest = max(channels, key=lambda ch: (ch["utilization"], -ch["channel"]))
        out.append(
            f"  busiest: channel {busiest['channel']} at chiplet {busiest['chiplet']}, "
            f"{_bytes(busiest['bytes'])}, utilization {_percent(busiest['utilization'])}"
        )
    return out


def _link_lines(d2d: dict[str, Any], full: bool) -> list[str]:
    used = [link for link in d2d["links"] if link["bytes"]]
    out = [
        f"D2D: {_bytes(d2d['link_bytes'])} over links (bytes x hops), "
        f"{len(used)} of {len(d2d['links'])} directed links used"
    ]
    if full:
        out += [f"  {_link(link)}" for link in used]
    elif used:
        busiest = max(used, key=lambda link: (link["utilization"], link["bytes"]))
        out.append(f"  busiest: {_link(busiest)}")
    return out


def _link(link: dict[str, Any]) -> str:
    return (
        f"link {link['from']}->{link['to']}: {link['flows']} flows, {_bytes(link['bytes'])}, "
        f"utilization {_percent(link['utilization'])}"
    )


def format_numerics(n: dict[str, Any]) -> str:
    scaled = (
        f"; hidden {n['hidden']} and FFN {n['ffn']} (scaled down by {n['scale']} from "
        f"{n['full_hidden']} and {n['full_ffn']})"
        if n["scaled"]
        else f"; full size, hidden {n['hidden']}, FFN {n['ffn']}"
    )
    return (
        f"numerics: {'ok' if n['ok'] else 'MISMATCH'}, {n['tokens']} tokens, max abs error "
        f"{n['max_abs_error']:.3g}, max rel error {n['max_rel_error']:.3g}{scaled}"
    )


CSV_FIELDS = (
    "chiplet",
    "finish_cycles",
    "compute_busy_cycles",
    "compute_ops",
    "compute_utilization",
    "sram_peak_bytes",
    "sram_peak_weight_bytes",
    "sram_peak_act_bytes",
    "sram_avg_weight_bytes",
    "sram_avg_act_bytes",
    "slice_visits",
    "zero_token_visits",
)


def format_csv(report: dict[str, Any]) -> str:
    """One row per chiplet: utilization, SRAM and visits."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in report["chiplets"]:
        writer.writerow({k: row[k] for k in CSV_FIELDS})
    return buffer.getvalue()
