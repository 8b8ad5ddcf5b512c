"""Fixed-point layers (ReActNet-style residual networks) in the emitted hls4ml project, bit-exact
against ``IntegerNetwork.run``.

Two hand-built golden models (seeded NumPy parameters), each compiled once for the whole file:

  resnet  Vitis, io_stream, (3, 6, 6) 8-bit images, 33 layers:
          stem: integer conv (accumulators) read by six FixedChainLayers (in_frac 0), one per
          rounding x overflow mode (the accumulator stream is cloned six ways); a FixedAddLayer tree
          (sat and wrap, one add of a tensor with itself); six serial FixedChainLayers (in_frac =
          frac), again one per mode, ties at slope_frac 1, 2 and 4; the residual block
          x1 -> ThresholdLayer (C, 1) -> XNOR conv 3x3 pad 1 (accumulators) -> FixedChainLayer
          (in_frac 0) -> FixedAddLayer(n2, x1) (x1 has two readers); max pooling of signed codes;
          then two heads joined by a FixedAddLayer of accumulators (frac 0): flatten of signed codes ->
          FixedChainLayer on a vector (slope_frac 0, frac > in_frac) -> bits -> XNOR dense, and
          ThresholdLayer (C, 3) on the pooled image (named input) -> flatten -> integer dense.
          The thresholds on signed codes negate some channels (golden ThresholdLayer.negate).
  dense   Vivado, io_parallel, 10 unsigned 8-bit inputs: FixedChainLayer on unsigned codes (ap_ufixed
          input), a second one reading it by name, FixedAddLayer of both (a tensor with two readers
          in io_parallel), threshold (some channels negated), XNOR dense.

Every layer's C-sim trace is compared with the golden trace on a few hundred random inputs, and the
golden side checks that each FixedChainLayer really rounds ties (both parities), really saturates /
wraps, and uses both slope signs (``ap_round_shift`` / ``ap_overflow`` themselves are checked
against an exact reference in ``tests/ir/test_fixed.py``); emit errors are checked without compiling;
``hw_bnn.flow.stages._first_divergence`` is checked on the graph model (one more build).  About 40 s.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from hw_bnn.errors import EmitError
from hw_bnn.hls4ml_ext.emit import PROJECT_INFO, emit_project
from hw_bnn.hls4ml_ext.plan import plan_network
from hw_bnn.ir import (
    ConvLayer,
    FixedAddLayer,
    FixedChainLayer,
    FlattenLayer,
    IntDenseLayer,
    IntegerNetwork,
    MaxPoolLayer,
    ThresholdLayer,
    XnorDenseLayer,
    ap_round_shift,
)
from hw_bnn.sim.csim import csim_predict, csim_trace

N_IMAGES = 300
MODES = [(q, o) for q in ("rnd_conv", "rnd", "trn") for o in ("sat", "wrap")]


# ------------------------------------------------------------------------------------------
# test networks


def _chain(name, shape, rng, *, in_frac, frac, sf, width, mode, in_range, inputs=(), slopes, g_step=1, g_span, z_span):
    """A FixedChainLayer with random per-channel parameters: breakpoints (multiples of ``g_step``) in
    ``+-g_span``, slopes drawn from ``slopes`` (P and N independently), offsets in ``+-z_span``."""
    c = shape[-1]
    g = rng.integers(-g_span, g_span + 1, size=c) // g_step * g_step
    p = rng.choice(np.asarray(slopes), size=c)
    n = rng.choice(np.asarray(slopes), size=c)
    p[0], n[0] = abs(p[0]), abs(p[0])  # channel 0: a plain BatchNorm (one positive slope)
    if c > 1:
        p[1], n[1] = -abs(p[1]), -abs(p[1])  # channel 1: one negative slope
    z = rng.integers(-z_span, z_span + 1, size=c)
    return FixedChainLayer(
        name,
        shape,
        g,
        p,
        n,
        z,
        in_frac=in_frac,
        frac=frac,
        slope_frac=sf,
        width=width,
        in_range=in_range,
        rounding=mode[0],
        overflow=mode[1],
        inputs=tuple(inputs),
    )


def _thresholds(rng, lo, hi, c, levels):
    return np.sort(rng.integers(lo, hi + 1, size=(c, levels)), axis=1).astype(np.int64)


def make_resnet(seed: int = 7):
    rng = np.random.default_rng(seed)
    h = w = 6
    c_in, c = 3, 4
    r8 = (-128, 127)
    L = []
    # stem: integer conv on 8-bit pixels, accumulator output
    w0 = rng.integers(-1, 2, size=(9 * c_in, c)).astype(np.int8)
    L.append(ConvLayer("c0", (h, w, c_in), 3, 1, 1, 0, w0, xnor=False, thresholds=None, in_levels=255))
    acc_lo, acc_hi = L[0].acc_range()
    # six stem chains (in_frac 0, every mode): t = 4a - G with G = 0 mod 4 and odd slopes at
    # slope_frac 3 -> t * S = 0 or 4 mod 8: a tie whenever t / 4 is odd
    stem = []
    for q, o in MODES:
        name = f"s_{q}_{o}"
        stem.append(name)
        L.append(
            _chain(
                name,
                (h, w, c),
                rng,
                in_frac=0,
                frac=2,
                sf=3,
                width=9,
                mode=(q, o),
                in_range=(acc_lo, acc_hi),
                inputs=("c0",),
                slopes=(-3, -1, 1, 3),
                g_step=4,
                g_span=400,
                z_span=40,
            )
        )
    # an add tree (frac 2): sat and wrap, and one add of a tensor with itself
    shape = (h, w, c)
    L.append(FixedAddLayer("a0", shape, 9, ("s_rnd_conv_sat", "s_rnd_conv_wrap"), "sat"))
    L.append(FixedAddLayer("a1", shape, 9, ("s_rnd_sat", "s_rnd_wrap"), "wrap"))
    L.append(FixedAddLayer("a2", shape, 10, ("s_trn_sat", "s_trn_wrap"), "sat"))
    L.append(FixedAddLayer("a2d", shape, 9, ("a2", "a2"), "wrap"))
    L.append(FixedAddLayer("a3", shape, 10, ("a0", "a1"), "sat"))
    L.append(FixedAddLayer("y1", shape, 8, ("a3", "a2d"), "wrap"))
    # six serial chains on fixed-point tensors (in_frac = frac = 2), every mode
    prev_range = r8
    odd3, odd7, odd29 = (-3, -1, 1, 3), (-7, -5, -3, -1, 1, 3, 5, 7), (-29, -19, -9, 9, 19, 29)
    for k, ((q, o), sf, slopes) in enumerate(zip(MODES, (1, 2, 1, 4, 2, 1), (odd3, odd7, odd3, odd29, odd7, odd3))):
        width = 8
        L.append(
            _chain(
                f"m{k}_{q}_{o}",
                shape,
                rng,
                in_frac=2,
                frac=2,
                sf=sf,
                width=width,
                mode=(q, o),
                in_range=prev_range,
                slopes=slopes,
                g_span=60,
                z_span=30,
            )
        )
        prev_range = (-(2 ** (width - 1)), 2 ** (width - 1) - 1)
    m_last = L[-1].name
    # the residual block
    L.append(
        _chain(
            "x1",
            shape,
            rng,
            in_frac=2,
            frac=2,
            sf=4,
            width=8,
            mode=("rnd_conv", "sat"),
            in_range=r8,
            inputs=(m_last,),
            slopes=(3, 7, 11, 16, 21),
            g_span=20,
            z_span=8,
        )
    )
    # channels 1 and 3 compare -x (a decreasing chain before them: golden ThresholdLayer.negate)
    r9 = (-256, 256)
    L.append(
        ThresholdLayer(
            "b1", _thresholds(rng, -20, 20, c, 1), in_range=r9, inputs=("x1",), negate=np.array([0, 1, 0, 1], bool)
        )
    )
    w2 = rng.integers(0, 2, size=(9 * c, c)).astype(np.uint8)
    L.append(ConvLayer("c2", (h, w, c), 3, 1, 1, 0, w2, xnor=True, thresholds=None))
    k2 = 9 * c
    L.append(
        _chain(
            "n2",
            shape,
            rng,
            in_frac=0,
            frac=2,
            sf=3,
            width=8,
            mode=("rnd", "wrap"),
            in_range=(-k2, k2),
            slopes=(-9, -5, 3, 5, 7),
            g_span=30,
            z_span=20,
        )
    )
    # XNOR accumulators are even here (K = 36): t = 4a - G = -G mod 8, and with odd slopes a tie
    # (t * S = 4 mod 8) needs G = 4 mod 8
    L[-1].breakpoint = np.asarray([4, -12, 20, 3], dtype=np.int64)
    L.append(FixedAddLayer("y2", shape, 8, ("n2", "x1"), "sat"))
    L.append(MaxPoolLayer("p2", shape, 2, 2, in_levels=127, in_lo=-128))
    # head A: flatten signed codes -> chain on a vector (slope_frac 0, frac 3 > in_frac 2) -> bits -> XNOR dense
    L.append(FlattenLayer("fl", (3, 3, c), in_levels=127))
    n_v = 9 * c
    L.append(
        _chain(
            "v",
            (n_v,),
            rng,
            in_frac=2,
            frac=3,
            sf=0,
            width=9,
            mode=("trn", "wrap"),
            in_range=r8,
            slopes=(-2, -1, 1, 2, 3),
            g_span=60,
            z_span=40,
        )
    )
    L.append(
        ThresholdLayer(
            "qb", _thresholds(rng, -40, 40, n_v, 1), in_range=r9, negate=rng.integers(0, 2, n_v).astype(bool)
        )
    )
    L.append(XnorDenseLayer("db", rng.integers(0, 2, size=(n_v, 5)).astype(np.uint8)))
    # head B: (C, 3) thresholds on the pooled signed image (named input) -> flatten -> integer dense
    L.append(
        ThresholdLayer(
            "q2", _thresholds(rng, -60, 60, c, 3), in_range=r9, inputs=("p2",), negate=np.array([1, 0, 0, 1], bool)
        )
    )
    L.append(FlattenLayer("fq", (3, 3, c), in_levels=3))
    L.append(IntDenseLayer("da", rng.integers(-1, 2, size=(n_v, 5)).astype(np.int8), in_levels=3))
    # the two heads' accumulators (integers: frac 0) joined by a saturating add
    L.append(FixedAddLayer("out", (5,), 6, ("da", "db"), "sat"))
    return IntegerNetwork(L, input_shape=(c_in, h, w), input_range=(0, 255))


def make_dense(seed: int = 11):
    rng = np.random.default_rng(seed)
    n = 10
    L = [
        _chain(
            "f0",
            (n,),
            rng,
            in_frac=0,
            frac=1,
            sf=2,
            width=9,
            mode=("rnd_conv", "sat"),
            in_range=(0, 255),
            slopes=(-3, -1, 1, 3, 5),
            g_span=300,
            z_span=30,
        ),
    ]
    L.append(
        _chain(
            "f1",
            (n,),
            rng,
            in_frac=1,
            frac=1,
            sf=1,
            width=8,
            mode=("rnd", "wrap"),
            in_range=(-256, 255),
            inputs=("f0",),
            slopes=(-3, -1, 1, 3),
            g_span=100,
            z_span=20,
        )
    )
    L.append(FixedAddLayer("fa", (n,), 9, ("f0", "f1"), "sat"))
    L.append(ThresholdLayer("t", _thresholds(rng, -50, 50, n, 1), in_range=(-256, 256), negate=np.arange(n) % 3 == 0))
    L.append(XnorDenseLayer("d", rng.integers(0, 2, size=(n, 4)).astype(np.uint8)))
    return IntegerNetwork(L, input_shape=(n,), input_range=(0, 255))


def _inputs(golden: IntegerNetwork, seed: int, n: int = N_IMAGES) -> np.ndarray:
    x = np.random.default_rng(seed).integers(0, 256, size=(n, *golden.input_shape)).astype(np.int64)
    x[0], x[1] = 0, 255
    return x


# ------------------------------------------------------------------------------------------
# golden-side checks: ties, overflow, slope signs really occur


def _sources(golden: IntegerNetwork) -> dict:
    """layer name -> name of the tensor it reads (first input); None = network input."""
    out, prev = {}, None
    for layer in golden.layers:
        ins = tuple(getattr(layer, "inputs", ()) or ())
        out[layer.name] = ins[0] if ins else prev
        prev = layer.name
    return out


def chain_stats(layer: FixedChainLayer, x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=np.int64)
    t = (x << (layer.frac - layer.in_frac)) - layer.breakpoint
    slope = np.where(t >= 0, layer.pos_slope, layer.neg_slope)
    p = t * slope + (layer.offset << layer.slope_frac)
    sf = layer.slope_frac
    stats = {
        "t_pos": int((t >= 0).sum()),
        "t_neg": int((t < 0).sum()),
        "slope_pos": int((slope > 0).sum()),
        "slope_neg": int((slope < 0).sum()),
    }
    if sf:
        ties = (p & ((1 << sf) - 1)) == (1 << (sf - 1))
        q = p >> sf
        stats.update(ties_odd=int((ties & ((q & 1) == 1)).sum()), ties_even=int((ties & ((q & 1) == 0)).sum()))
    r = ap_round_shift(p, sf, layer.rounding)
    lo, hi = layer.out_range()
    stats["overflow"] = int(((r < lo) | (r > hi)).sum())
    stats["in_range"] = int(((r >= lo) & (r <= hi)).sum())
    return stats


def test_test_networks_exercise_every_case():
    golden = make_resnet()
    x = _inputs(golden, 1)
    tr = golden.run(x, trace=True)
    src = _sources(golden)
    seen_modes = {0: set(), 2: set()}
    for layer in golden.layers:
        if not isinstance(layer, FixedChainLayer):
            continue
        xin = tr[src[layer.name]] if src[layer.name] else None
        st = chain_stats(layer, xin)
        for key in ("t_pos", "t_neg", "slope_pos", "slope_neg", "in_range"):
            assert st[key] > 0, f"{layer.name}: no element with {key} ({st})"
        if layer.slope_frac:
            assert st["ties_odd"] > 0 and st["ties_even"] > 0, f"{layer.name}: ties of both parities needed ({st})"
        if layer.name.startswith(("s_", "m")):
            assert st["overflow"] > 0, f"{layer.name}: {layer.overflow} never acts ({st})"
            seen_modes[layer.in_frac].add((layer.rounding, layer.overflow))
    assert seen_modes[0] == set(MODES) and seen_modes[2] == set(MODES)
    # the adds saturate / wrap too, and pooled values are signed
    for name in ("a0", "y1", "y2", "out"):
        layer = next(la for la in golden.layers if la.name == name)
        s = sum(np.asarray(tr[i], dtype=np.int64) for i in layer.inputs)
        lo, hi = layer.out_range()
        assert np.any((s < lo) | (s > hi)), f"{name}: {layer.overflow} never acts"
    assert tr["p2"].min() < 0 < tr["p2"].max()
    for name, levels in (("b1", 1), ("q2", 3), ("qb", 1)):
        assert len(np.unique(tr[name])) == levels + 1, f"{name}: not every code occurs"
    d = make_dense()
    xd = _inputs(d, 2)
    trd = d.run(xd, trace=True)
    assert chain_stats(d.layers[0], xd)["overflow"] > 0 and chain_stats(d.layers[1], trd["f0"])["overflow"] > 0


# ------------------------------------------------------------------------------------------
# compiled projects (one build each)


def _first_mismatch(got, want) -> str:
    idx = tuple(int(i) for i in np.argwhere(got != want)[0])
    return f"first at {idx} (sample, ...; NHWC for images): csim {got[idx]} != golden {want[idx]}"


def assert_traces_equal(got: dict, golden: IntegerNetwork, x, label: str) -> None:
    want = golden.run(x, trace=True)
    assert list(got) == list(want), f"{label}: traced layers {list(got)} != golden {list(want)}"
    bad = {name: int(np.sum(got[name] != np.asarray(want[name]))) for name in want}
    for name in want:  # list order is a topological order: the first bad layer is where it starts
        w = np.asarray(want[name]).astype(np.int64)
        assert got[name].shape == w.shape, f"{label}: layer {name!r} shape {got[name].shape} != golden {w.shape}"
        if bad[name]:
            raise AssertionError(
                f"{label}: first mismatching layer {name!r}: {bad[name]} of {w.size} values differ, "
                f"{_first_mismatch(got[name], w)}; mismatches per layer: { {k: v for k, v in bad.items() if v} }"
            )


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hls_fixed")


@pytest.fixture(scope="module")
def resnet(work):
    golden = make_resnet()
    x = _inputs(golden, 1)
    model = emit_project(golden, work / "resnet", backend="Vitis", tb_inputs=x[:4])
    traces = csim_trace(model, x)  # hls4ml trace() builds the project
    return golden, x, model, traces


@pytest.fixture(scope="module")
def dense(work):
    golden = make_dense()
    x = _inputs(golden, 2)
    model = emit_project(golden, work / "dense", backend="Vivado")
    traces = csim_trace(model, x)
    return golden, x, model, traces


@pytest.mark.slow
def test_resnet_trace_and_csim_match_golden(resnet):
    golden, x, model, traces = resnet
    assert_traces_equal(traces, golden, x, "resnet trace")
    got = csim_predict(model, x)
    want = golden.run(x).astype(np.int64)
    n_bad = int(np.sum(got != want))
    assert got.shape == want.shape and n_bad == 0, (
        f"resnet csim: {n_bad} outputs differ; {_first_mismatch(got, want) if n_bad else ''}"
    )
    # the data tell the modes apart: on the same inputs, golden with any other rounding/overflow mode
    # differs from what the C-sim computed for each of the twelve mode layers
    src = _sources(golden)
    for layer in golden.layers:
        if isinstance(layer, FixedChainLayer) and layer.name.startswith(("s_", "m")):
            for mode in MODES:
                if mode != (layer.rounding, layer.overflow):
                    other = copy.copy(layer)
                    other.rounding, other.overflow = mode
                    assert np.any(other.run(traces[src[layer.name]]) != traces[layer.name]), (
                        f"{layer.name}: {mode} gives the same codes"
                    )


@pytest.mark.slow
def test_resnet_project_types_and_clones(resnet):
    golden, _, model, _ = resnet
    prj = Path(model.config.get_output_dir())
    info = {e["name"]: e for e in json.loads((prj / PROJECT_INFO).read_text())["layers"]}
    assert info["c0"]["readers"] == [f"s_{q}_{o}" for q, o in MODES]
    assert sorted(info["x1"]["readers"]) == ["b1", "y2"]
    assert info["y2"]["inputs"] == ["n2", "x1"] and info["y2"]["frac"] == 2 and info["out"]["frac"] == 0
    p_lo, p_hi = info["p2"]["out_range"]  # reachable codes: within int<8>, both signs
    assert -128 <= p_lo < 0 < p_hi <= 127 and info["p2"]["out_width"] == 8 and info["v"]["frac"] == 3
    assert info["b1"]["negated"] == 2 and info["qb"]["negated"] > 0
    layers = {la.name: la for la in model.get_layers()}
    # hls4ml's clone_output pass copies the streams with several readers
    clones = {la.name: len(la.outputs) for la in layers.values() if la.class_name == "Clone"}
    assert clones == {"clone_c0": 6, "clone_a2": 2, "clone_x1": 2, "clone_p2": 2}, clones
    assert str(layers["n2"].get_output_variable().type.precision) == "int<8>"
    assert layers["x1"].get_attr("out_fx") == "ap_fixed<8, 6, AP_RND_CONV, AP_SAT>"
    assert layers["n2"].get_attr("out_fx") == "ap_fixed<8, 6, AP_RND, AP_WRAP>"
    assert layers["y2"].get_attr("out_fx") == "ap_fixed<8, 6, AP_TRN, AP_SAT>"
    params = (prj / "firmware" / "parameters.h").read_text()
    cpp = (prj / "firmware" / f"{model.config.get_project_name()}.cpp").read_text()
    assert "typedef ap_fixed<9, 7, AP_TRN, AP_WRAP> out_fx_t;" in params  # s_trn_wrap
    assert "nnet::clone_stream" in cpp and "hw_bnn_hls::fixed_add<" in cpp and "hw_bnn_hls::multithreshold_neg<" in cpp


@pytest.mark.slow
def test_dense_io_parallel_trace_and_csim_match_golden(dense):
    golden, x, model, traces = dense
    assert model.config.get_config_value("IOType") == "io_parallel"
    assert_traces_equal(traces, golden, x, "dense trace")
    got = csim_predict(model, x)
    want = golden.run(x).astype(np.int64)
    assert np.array_equal(got, want), f"dense csim: {int(np.sum(got != want))} outputs differ"
    layers = {la.name: la for la in model.get_layers()}
    assert layers["f0"].get_attr("in_fx") == "ap_ufixed<8, 8>"  # unsigned pixels


@pytest.mark.slow
def test_flow_first_divergence_names_the_layer_in_a_graph(resnet):
    """``hw_bnn.flow.stages._first_divergence`` on a graph model: golden changed in one mode layer -> that
    layer is named (the layers before it, clones included, agree).  Costs one more build (trace)."""
    from hw_bnn.sim.verify import first_divergence

    golden, x, model, traces = resnet
    changed = copy.deepcopy(golden)
    layer = changed.layers[_index(changed, "m2_rnd_sat")]
    layer.rounding = "trn"
    diff = np.any((changed.run(x, trace=True)["m2_rnd_sat"] != traces["m2_rnd_sat"]).reshape(len(x), -1), axis=1)
    k = int(np.flatnonzero(diff)[0])
    d = first_divergence(changed, model, x[k])
    assert d["layer"] == "m2_rnd_sat" and d["golden"] != d["csim"], d


# ------------------------------------------------------------------------------------------
# emit errors (no compiles)


def _replace(golden: IntegerNetwork, name: str, new) -> IntegerNetwork:
    golden.layers = [new if la.name == name else la for la in golden.layers]
    return golden


def _index(golden: IntegerNetwork, name: str) -> int:
    return [la.name for la in golden.layers].index(name)


def test_emit_errors_name_the_layer(tmp_path):
    assert plan_network(make_resnet())["output_range"] == [-32, 31]  # the unchanged network plans

    g = make_resnet()
    i = _index(g, "q2")
    g.layers[i:i] = [FixedAddLayer("mix", (3, 3, 4), 8, ("p2", "c2"), "sat")]  # (3, 3, 4) + (6, 6, 4)
    with pytest.raises(EmitError, match=r"layer 'mix'.*shape \(3, 3, 4\).*shape \(6, 6, 4\)"):
        plan_network(g)
    g = make_resnet()
    g.layers[i:i] = [FixedAddLayer("mix", (6, 6, 4), 8, ("y2", "c2"), "sat")]  # frac 2 + frac 0
    with pytest.raises(EmitError, match=r"layer 'mix'.*frac 2.*frac 0"):
        plan_network(g)
    g = make_resnet()
    g.layers[_index(g, "y2")].inputs = ("n2", "fl")  # 'fl' comes later
    with pytest.raises(EmitError, match=r"layer 'y2'.*'fl'.*earlier layer"):
        plan_network(g)
    g = make_resnet()
    g.layers[_index(g, "n2")].in_frac = 2  # reads an accumulator (frac 0)
    with pytest.raises(EmitError, match=r"layer 'n2'.*in_frac 2.*integer tensor"):
        plan_network(g)
    g = make_resnet()
    g.layers[_index(g, "x1")].offset = np.zeros(3, dtype=np.int64)
    with pytest.raises(EmitError, match=r"layer 'x1'.*offset.*4 integers"):
        plan_network(g)
    g = make_resnet()
    g.layers[_index(g, "x1")].width = 30
    with pytest.raises(EmitError, match=r"layer 'x1'.*width 30"):
        plan_network(g)
    g = make_resnet()
    g.layers[_index(g, "x1")].frac = g.layers[_index(g, "x1")].in_frac = 8  # ap_fixed<8, 0>: no integer bit
    with pytest.raises(EmitError, match=r"layer 'x1'.*frac < width"):
        plan_network(g)
    g = make_resnet()
    g.layers[_index(g, "x1")].slope_frac = 70
    with pytest.raises(EmitError, match=r"layer 'x1'.*slope_frac"):
        plan_network(g)
    g = make_resnet()
    g.layers[_index(g, "s_trn_sat")].in_range = (-100, 100)  # the accumulators reach further
    with pytest.raises(EmitError, match=r"layer 's_trn_sat'.*input range"):
        plan_network(g)
    g = make_resnet()
    zero = np.zeros(4, dtype=np.int64)
    g.layers.insert(
        1, FixedChainLayer("dead", (6, 6, 4), zero, zero, zero, zero, 0, 0, 0, 8, (-(10**6), 10**6), inputs=("c0",))
    )
    with pytest.raises(EmitError, match=r"layer 'dead'.*read by no later layer"):
        plan_network(g)

    # io_stream copies a stream to at most 7 readers (hls4ml clone_stream); an add of a tensor with
    # itself reads it twice
    conv = make_resnet().layers[0]
    shape = conv.out_shape
    layers = [conv] + [FixedAddLayer(f"d{k}", shape, 16, ("c0", "c0"), "sat") for k in range(4)]
    layers += [
        FixedAddLayer("d01", shape, 16, ("d0", "d1"), "sat"),
        FixedAddLayer("d23", shape, 16, ("d2", "d3"), "sat"),
    ]
    layers += [FixedAddLayer("sum", shape, 16, ("d01", "d23"), "sat")]
    g = IntegerNetwork(layers, input_shape=(3, 6, 6), input_range=(0, 255))
    assert len(plan_network(g)["layers"][0]["readers"]) == 8
    with pytest.raises(EmitError, match=r"layer 'c0'.*8 layers"):
        emit_project(g, tmp_path / "p")
    assert list(tmp_path.iterdir()) == []
