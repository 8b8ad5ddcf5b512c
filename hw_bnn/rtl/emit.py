"""Write a network's RTL project: the kernels, the top level, the memory images, the harness
configuration.

``emit_rtl(golden, out_dir, folding)`` writes into ``out_dir`` (built in a temporary folder and
renamed into place):

=====================  ==============================================================
``hwbnn_*.sv``         copies of the kernels of ``rtl/``
``hwbnn_top.sv``       the network: its units (:mod:`hw_bnn.rtl.graph`) wired as the graph says,
                       valid/ready handshakes throughout, and one tap per unit output
                       (``tap<i>_fire``, ``tap<i>_data``) for verification
``<layer>_w.mem``      weights, one word per (neuron fold, synapse fold), ``$readmemh`` format
``b<bbb>_<layer>_w.mem`` instead, bank by bank, where the weights are deeper than one block RAM
                       (``units.weight_banks``: banks of its depth at the word's width)
``<layer>_t.mem``      thresholds: of a matrix unit one word per neuron fold (its PE channels),
                       of a threshold unit one word per channel (and its negate flag)
``<layer>_p.mem``      a fixed-point chain's parameters, one word per channel
``hwbnn_config.h``     stream shapes for the Verilator harness (``sim/hwbnn_harness.cpp``)
``rtl_project.json``   the units, their parameters, streams and cycles per frame
=====================  ==============================================================

Every edge of the graph carries a FIFO (but the one from the input port to a sole reader), then a
width converter where the reader takes a different number of values per beat.  A stream with
several readers goes through an eager fork first, so each branch has its own FIFO
(:func:`fifo_beats`).  A FIFO into a merge holds one frame of its stream, plus one frame for
every unit that holds a whole frame (a window, a dense MVU: :func:`frame_levels`) on the merge's
other inputs' paths and not on its own, plus a beat for every register stage those paths have
beyond one per unit (:func:`extra_stages`: a fixed-point chain has five or seven).  That keeps
branching graphs free of deadlock and at full rate: every unit's output of a frame depends on
that frame's input alone, and each frame-holding unit delays its output by one frame interval,
during which the shortcut beside it delivers one frame into the FIFO at the merge.  A dense
MVU's input FIFO holds a frame too: the MVU reads its vector during its first neuron fold and
re-reads it for the others, while the producer runs a frame ahead.  Every other edge feeds a
unit that streams (a window keeps its own rows of slack, a convolution's MVU reads one window
vector at a time): its FIFO holds two of the reader's vectors (a convolution's MVU) or
:data:`CHAIN_DEPTH` beats.

Data ports of ``hwbnn_top`` are padded to a multiple of 32 bits above 64, so the harness sees
every one as a Verilator wide signal.
"""

from __future__ import annotations

import json
import shutil

from hw_bnn.files import building_folder
from hw_bnn.resources import rtl_kernels_dir
from hw_bnn.rtl.graph import network_input, rtl_units
from hw_bnn.rtl.units import RtlUnit, Stream, block_port, memory_images

RTL_PROJECT = "rtl_project.json"
KERNELS = (
    "hwbnn_threshold.sv",
    "hwbnn_mvu.sv",
    "hwbnn_window.sv",
    "hwbnn_fixed_chain.sv",
    "hwbnn_add.sv",
    "hwbnn_concat.sv",
    "hwbnn_fork.sv",
    "hwbnn_rom.sv",
    "hwbnn_dwc.sv",
    "hwbnn_fifo.sv",
)


OUT_REG_DEPTH = 64  # FIFOs this deep (a block RAM, as synthesis maps them) read through a register slice
CHAIN_DEPTH = 32  # beats of a FIFO into a streaming unit (distributed RAM)


def fifo_depth(out: Stream, frames: int = 1) -> int:
    """Beats of a FIFO that holds ``frames`` whole frames of the stream ``out`` (at least 2)."""
    return max(2, frames * out.frame // out.elems)


def fifo_params(depth: int, bits: int) -> dict:
    """``hwbnn_fifo``'s parameters for ``depth`` beats of ``bits``: a register slice after the
    memory from :data:`OUT_REG_DEPTH` beats; beyond one block RAM's depth at that width
    (:func:`~hw_bnn.rtl.units.block_port`), banks of that depth, each read registered before the
    bank is selected."""
    params = {"DEPTH": depth, "BITS": bits}
    if depth < OUT_REG_DEPTH:
        return params
    _, words = block_port(bits, depth)
    params["OUT_REG"] = 1
    if depth > words:
        params |= {"BANKS": -(-depth // words), "BANK_WORDS": words}
    return params


def _longest_path(units: list[RtlUnit], weight) -> list[int]:
    """Per unit, the largest sum of ``weight(u)`` over the units of a path from the input to its
    output (itself included); the units are in graph order."""
    out: list[int] = []
    for u in units:
        out.append(max((out[s] for s in u.sources if s >= 0), default=0) + weight(u))
    return out


def frame_levels(units: list[RtlUnit]) -> list[int]:
    """Per unit, the most units on a path from the input to its output (itself included) that
    hold a whole frame before their first output: how many frames its output lags the input."""
    return _longest_path(units, lambda u: int(u.holds_frame))


def extra_stages(units: list[RtlUnit]) -> list[int]:
    """Per unit, the most register stages beyond one per unit (``latency - 1``) on a path from
    the input to its output: a merge's FIFO on a shorter path holds that many beats more, so that
    the deeper pipeline on its other input does not stall the stream."""
    return _longest_path(units, lambda u: u.latency - 1)


def port_bits(width: int) -> int:
    """The padded width of a top-level data port: a multiple of 32, at least 96."""
    return max(96, -(-width // 32) * 32)


def _mem_text(words: list[int], bits: int) -> str:
    digits = max(1, -(-bits // 4))
    return "".join(f"{w:0{digits}x}\n" for w in words)


def _param_text(params: dict) -> str:
    items = [f'.{k}("{v}")' if isinstance(v, str) else f".{k}({v})" for k, v in params.items()]
    return ", ".join(items)


def _instance(module: str, name: str, params: dict, ports: dict[str, tuple[str, str, str]]) -> list[str]:
    """An instance; ``ports`` maps a port prefix (``in``, ``a``, ``out``) to (valid, ready, data)."""
    conns = ["      .clk(clk), .rst(rst)"]
    for prefix, (valid, ready, data) in ports.items():
        conns.append(f"      .{prefix}_valid({valid}), .{prefix}_ready({ready}), .{prefix}_data({data})")
    return [f"  {module} #({_param_text(params)}) {name} ("] + [",\n".join(conns) + ");"]


def _wires(name: str, width: int, n: int = 1) -> str:
    """The valid, ready (``n`` each: a fork's) and data signals of a stream ``name``."""
    flags = f"[{n - 1}:0] " if n > 1 else ""
    return f"  logic {flags}{name}_valid;\n  logic {flags}{name}_ready;\n  logic [{width - 1}:0] {name}_data;"


def _signals(name: str) -> tuple[str, str, str]:
    return f"{name}_valid", f"{name}_ready", f"{name}_data"


class _Top:
    """The body of ``hwbnn_top`` as it is built: wires and instances, one edge at a time."""

    def __init__(self):
        self.lines: list[str] = []

    def add(self, module: str, name: str, params: dict, ins: dict, out: str, width: int) -> tuple[str, str, str]:
        self.lines.append(_wires(out, width))
        self.lines += _instance(module, name, params, {**ins, "out": _signals(out)})
        return _signals(out)

    def fork(self, name: str, src: tuple, n: int, width: int) -> list[tuple[str, str, str]]:
        """``hwbnn_fork`` of ``src`` to ``n`` readers: one (valid, ready, data) per branch."""
        self.lines.append(_wires(name, width, n))
        self.lines += _instance("hwbnn_fork", name, {"N": n, "BITS": width}, {"in": src, "out": _signals(name)})
        return [(f"{name}_valid[{j}]", f"{name}_ready[{j}]", f"{name}_data") for j in range(n)]

    def widen(self, name: str, src: tuple, have: Stream, want: Stream) -> tuple[str, str, str]:
        """Each value of ``src`` extended from ``have.bits`` to ``want.bits`` (sign or zero)."""
        self.lines.append(_wires(name, want.width))
        valid, ready, data = src
        self.lines += [f"  assign {name}_valid = {valid};", f"  assign {ready} = {name}_ready;"]
        cast = "$signed" if have.signed else ""
        self.lines.append(f"  for (genvar e = 0; e < {have.elems}; e++) begin : {name}_ext")
        b, w = have.bits, want.bits
        self.lines.append(f"    assign {name}_data[e*{w}+:{w}] = {w}'({cast}({data}[e*{b}+:{b}]));")
        self.lines.append("  end")
        return _signals(name)


def fifo_frames(levels: list[int], unit: RtlUnit, src: int, readers: int) -> int:
    """Frames of the FIFO on the edge from ``src`` (-1: the input port) to ``unit``: none from the
    input port to its sole reader; else one, plus the frame-holding units on the paths to the
    unit's other inputs beyond those on this one's (a merge waits for its latest input)."""
    if src < 0 and readers == 1:
        return 0
    latest = max((levels[s] for s in unit.sources if s >= 0), default=0)
    return 1 + latest - (levels[src] if src >= 0 else 0)


def fifo_beats(levels: list[int], extra: list[int], unit: RtlUnit, src: int, readers: int, have: Stream) -> int:
    """Beats of the FIFO on the edge from ``src`` to ``unit`` carrying ``have`` (0: none): the
    frames of :func:`fifo_frames` into a merge (and the :func:`extra_stages` its other inputs'
    paths have beyond this one's) or into a dense MVU; into a convolution's MVU two of its
    ``MW``-value window vectors; else :data:`CHAIN_DEPTH`; never more than the frames."""
    frames = fifo_frames(levels, unit, src, readers)
    if not frames:
        return 0
    whole = fifo_depth(have, frames)
    if len(unit.sources) > 1:
        stages = lambda s: extra[s] if s >= 0 else 0  # noqa: E731
        return whole + max(stages(s) for s in unit.sources) - stages(src)
    if unit.module == "hwbnn_mvu" and unit.holds_frame:
        return whole
    if unit.module == "hwbnn_mvu":
        return min(whole, max(CHAIN_DEPTH, 2 * -(-unit.params["MW"] // have.elems)))
    return min(whole, CHAIN_DEPTH)


def carried(have: Stream, want: Stream) -> Stream:
    """The stream a FIFO between ``have`` and ``want`` holds: the wider of the two beats, so that
    a reader taking more values per beat than its producer gives (an MVU's SIMD behind a PE of
    1) gets one beat a cycle out of the FIFO while it reads its vector."""
    return Stream(want.elems, have.bits, have.signed, have.frame) if want.elems > have.elems else have


def _dwc(top: _Top, tag: str, src: tuple, have: Stream, want: Stream) -> tuple[tuple, Stream]:
    dwc = {"IN_ELEMS": have.elems, "OUT_ELEMS": want.elems, "BITS": have.bits}
    src = top.add("hwbnn_dwc", f"dwc_{tag}", dwc, {"in": src}, f"c_{tag}", want.elems * have.bits)
    return src, Stream(want.elems, have.bits, have.signed, have.frame)


def _edge(top: _Top, tag: str, src: tuple, have: Stream, want: Stream, depth: int) -> tuple[str, str, str]:
    """A stream from its producer to a unit's port: a FIFO of ``depth`` beats (none for 0) of
    :func:`carried`, with a width converter before it (widening) or after it (narrowing) where
    the values per beat differ, then sign or zero extension where the bits do."""
    if want.elems > have.elems:
        src, have = _dwc(top, tag, src, have, want)
    if depth:
        src = top.add("hwbnn_fifo", f"fifo_{tag}", fifo_params(depth, have.width), {"in": src}, f"f_{tag}", have.width)
    if have.elems != want.elems:
        src, have = _dwc(top, tag, src, have, want)
    if have.bits != want.bits:
        src = top.widen(f"w_{tag}", src, have, want)
    return src


def top_level(units: list[RtlUnit], first: Stream) -> str:
    """``hwbnn_top``: the units wired as their ``sources`` say, a fork where a stream has several
    readers, a FIFO on every edge (:func:`fifo_beats`; none between the input port and a sole
    reader), width converters, and a tap on each unit's output."""
    last = units[-1].out
    ports = [
        "    input  logic clk,",
        "    input  logic rst,",
        "    input  logic in_valid,",
        "    output logic in_ready,",
        f"    input  logic [{port_bits(first.width) - 1}:0] in_data,",
        "    output logic out_valid,",
        "    input  logic out_ready,",
        f"    output logic [{port_bits(last.width) - 1}:0] out_data",
    ]
    for i, u in enumerate(units):
        ports[-1] += ","
        ports += [f"    output logic tap{i}_fire,", f"    output logic [{port_bits(u.out.width) - 1}:0] tap{i}_data"]
    top = _Top()
    top.lines += [_wires("s", first.width), "  assign s_valid = in_valid;", "  assign in_ready = s_ready;"]
    top.lines.append(f"  assign s_data = in_data[{first.width - 1}:0];")
    outs = {-1: (_signals("s"), first)}
    branches: dict = {}
    levels, extra = frame_levels(units), extra_stages(units)
    readers = {src: sum(u.sources.count(src) for u in units) for src in range(-1, len(units))}
    for i, u in enumerate(units):
        ins = {}
        for k, (port, src) in enumerate(zip(u.ports, u.sources)):
            signals, have = outs[src]
            if readers[src] > 1:
                if src not in branches:
                    branches[src] = iter(top.fork(f"fork{src + 1}", signals, readers[src], have.width))
                signals = next(branches[src])
            depth = fifo_beats(levels, extra, u, src, readers[src], carried(have, u.ins[k]))
            ins[port] = _edge(top, f"{i}{port}", signals, have, u.ins[k], depth)
        outs[i] = (top.add(u.module, f"unit{i}_{u.name}", u.params, ins, f"u{i}", u.out.width), u.out)
        top.lines.append(f"  assign tap{i}_fire = u{i}_valid && u{i}_ready;")
        top.lines.append(f"  assign tap{i}_data = {port_bits(u.out.width)}'(u{i}_data);")
    n = len(units) - 1
    top.lines += [
        f"  assign out_valid = u{n}_valid;",
        f"  assign u{n}_ready = out_ready;",
        f"  assign out_data = {port_bits(last.width)}'(u{n}_data);",
    ]
    head = "// Generated by hw-bnn (hw_bnn.rtl.emit): the network as a graph of rtl/ kernels.\n"
    return head + "module hwbnn_top (\n" + "\n".join(ports) + "\n);\n" + "\n".join(top.lines) + "\nendmodule\n"


def harness_config(units: list[RtlUnit], first: Stream) -> str:
    """``hwbnn_config.h``: the shapes of the input, output and tap streams, for the harness."""
    last = units[-1].out
    lines = [
        "// Generated by hw-bnn (hw_bnn.rtl.emit): stream shapes for sim/hwbnn_harness.cpp.",
        f"#define IN_ELEMS {first.elems}",
        f"#define IN_BITS {first.bits}",
        f"#define IN_FRAME {first.frame}",
        f"#define OUT_ELEMS {last.elems}",
        f"#define OUT_BITS {last.bits}",
        f"#define OUT_SIGNED {int(last.signed)}",
        f"#define OUT_FRAME {last.frame}",
        f"#define N_TAPS {len(units)}",
        "// X(index, elems per beat, bits, signed, values per frame)",
        "#define HWBNN_TAPS(X) \\",
    ]
    lines += [
        f"  X({i}, {u.out.elems}, {u.out.bits}, {int(u.out.signed)}, {u.out.frame}) \\" for i, u in enumerate(units)
    ]
    return "\n".join(lines) + "\n  /* end of HWBNN_TAPS */\n"


def _project(units: list[RtlUnit], first: Stream) -> dict:
    def stream(s: Stream) -> dict:
        return {"elems": s.elems, "bits": s.bits, "signed": s.signed, "frame": s.frame}

    return {
        "top": "hwbnn_top",
        "kernels": list(KERNELS),
        "input": stream(first),
        "units": [
            {
                "name": u.name,
                "layer": u.layer,
                "module": u.module,
                "params": u.params,
                "sources": list(u.sources),
                "in": [stream(s) for s in u.ins],
                "out": stream(u.out),
                "cycles_per_frame": u.cycles,
            }
            for u in units
        ],
        # the slowest unit, or the input port (an image a pixel per beat into a fully parallel MLP)
        "cycles_per_frame": max(max(u.cycles for u in units), -(-first.frame // first.elems)),
    }


def emit_rtl(golden, out_dir, folding: dict | None = None, weight_ram: dict | None = None) -> dict:
    """Write the RTL project of ``golden`` into ``out_dir`` (see the module docstring); returns
    its description (``rtl_project.json``).  ``weight_ram``: layer -> memory style of its weights
    (``distributed``, ``block``; default ``auto``).  Raises ``EmitError`` naming a layer the
    backend cannot build."""
    units = rtl_units(golden, folding, weight_ram)
    first = network_input(golden, folding)
    with building_folder(out_dir) as tmp:
        for k in KERNELS:
            shutil.copyfile(rtl_kernels_dir() / k, tmp / k)
        for u in units:
            for name, (words, bits) in memory_images(u).items():
                (tmp / name).write_text(_mem_text(words, bits))
        (tmp / "hwbnn_top.sv").write_text(top_level(units, first))
        (tmp / "hwbnn_config.h").write_text(harness_config(units, first))
        project = _project(units, first)
        (tmp / RTL_PROJECT).write_text(json.dumps(project, indent=2) + "\n")
    return project
