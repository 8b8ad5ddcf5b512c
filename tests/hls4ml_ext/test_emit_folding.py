"""PE / SIMD folding of the matrix-vector units, g++ C simulation through hls4ml vs the golden model.

Two random networks, each emitted under two foldings that give every layer a different choice;
each project is compiled once (by ``csim_trace``, hls4ml's ``trace()`` builds it), so 4 g++ builds:

  dense_a  Vitis,  io_parallel  d0_int8  int dense on 8-bit pixels, thresholds   PE=1,  SIMD=1  (fully folded)
                                d1_int2  int dense on 2-bit codes, accumulators PE=5,  SIMD=4
                                d2_x     XNOR, thresholds                      PE=70, SIMD=10 (fully parallel)
                                d3_x     XNOR, thresholds                      PE=3,  SIMD=35 (two words: 32 + 3 bits)
                                d4_xacc  XNOR, accumulators                     PE=1,  SIMD=1
  dense_b  Vivado, io_stream    d0 PE=12 SIMD=24 (parallel), d1 by reuse_factor 3 (PE=4 of MH=10: a
                                ragged last fold), d2 PE=7 SIMD=5, d3 PE=1 SIMD=1, d4 PE=6 SIMD=12
  conv_a   Vitis,  io_stream    c0_int   int conv 3x3 pad 1 on 8-bit pixels, thresholds  PE=1, SIMD=1
                                c1_xnor  XNOR conv 3x3 pad 1 (K=54), thresholds       PE=8, SIMD=54 (parallel)
                                c2_xacc  XNOR conv 2x2 stride 2 (K=32), accumulators   PE=2, SIMD=8
                                c3_int   int conv 3x3 on 2-bit codes (K=36, C_in=4), accumulators
                                         PE=1, SIMD=6 (a slice that is not a whole number of pixels)
  conv_b   Vivado, io_stream    c0 PE=6 SIMD=18 (parallel), c1 PE=2 SIMD=27, c2 PE=1 SIMD=1,
                                c3 PE=5 SIMD=9

Between the accumulator layers and the next MVU sit per-channel threshold layers.  Every layer's
C-sim output (hls4ml trace) and the network output are compared with the golden model as
integers; a failure names the layer, the number of mismatches and the first one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from hw_bnn.errors import EmitError, HwBnnError
from hw_bnn.hls4ml_ext.emit import PROJECT_INFO, emit_project
from hw_bnn.hls4ml_ext.folding import mvu_weight_memory, resolve_folding
from hw_bnn.hls4ml_ext.kinds import CONV_KIND, INT_DENSE_KIND, XNOR_DENSE_KIND
from hw_bnn.hls4ml_ext.plan import plan_network
from hw_bnn.ir import IntegerNetwork, ThresholdLayer
from hw_bnn.sim.csim import csim_predict, csim_trace
from tests.hls4ml_ext.test_emit_cnn import _Builder, _images, assert_outputs_equal, assert_traces_equal

N_SAMPLES = 40

FOLD_DENSE_A = {
    "d0_int8": {"PE": 1, "SIMD": 1},
    "d1_int2": {"PE": 5, "SIMD": 4},
    "d2_x": {"PE": 70, "SIMD": 10},
    "d3_x": {"PE": 3, "SIMD": 35},
    "d4_xacc": {"PE": 1, "SIMD": 1},
}
FOLD_DENSE_B = {
    "d0_int8": {"PE": 12, "SIMD": 24},
    "d2_x": {"PE": 7, "SIMD": 5},
    "d3_x": {"PE": 1, "SIMD": 1},
    "d4_xacc": {"PE": 6},  # SIMD missing: fully parallel (12)
}
RF_DENSE_B = {"d1_int2": 3}  # not in the folding: PE = ceil(10 / 3) = 4, SIMD = MW
FOLD_CONV_A = {
    "c0_int": {"PE": 1, "SIMD": 1},
    "c1_xnor": {"PE": 8, "SIMD": 54},
    "c2_xacc": {"PE": 2, "SIMD": 8},
    "c3_int": {"PE": 1, "SIMD": 6},
}
FOLD_CONV_B = {
    "c0_int": {"PE": 6, "SIMD": 18},
    "c1_xnor": {"PE": 2, "SIMD": 27},
    "c2_xacc": {"PE": 1, "SIMD": 1},
    "c3_int": {"PE": 5, "SIMD": 9},
}


# ------------------------------------------------------------------------------------------
# random networks


def _acc_threshold(b: _Builder, name: str, levels: int, in_range) -> ThresholdLayer:
    """Per-channel thresholds at quantiles of the accumulators ``b.cur`` (integers in ``in_range``)."""
    a = b.cur.reshape(-1, b.cur.shape[-1])
    qs = np.arange(1, levels + 1) / (levels + 1)
    t = np.sort(np.ceil(np.quantile(a, qs, axis=0).T).astype(np.int64), axis=1)
    return b.add(ThresholdLayer(name, t, tuple(int(v) for v in in_range)))


def make_dense(seed: int = 7):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(N_SAMPLES, 24)).astype(np.int64)
    x[0], x[1] = 0, 255
    b = _Builder.__new__(_Builder)  # the CNN builder, on vectors
    b.rng, b.cur, b.layers = rng, x.astype(np.float32), []
    b.dense("d0_int8", 12, xnor=False, levels=3, in_levels=255, wvals=(-3, -2, -1, 1, 2, 3))
    d1 = b.dense("d1_int2", 10, xnor=False, levels=0, in_levels=3, wvals=(-1, 0, 1))
    _acc_threshold(b, "q1", 1, d1.acc_range())
    b.dense("d2_x", 70, xnor=True, levels=1)
    b.dense("d3_x", 12, xnor=True, levels=1)
    b.dense("d4_xacc", 6, xnor=True, levels=0)
    return IntegerNetwork(b.layers, input_shape=(24,), input_range=(0, 255)), x


def make_conv(seed: int = 8):
    x = _images(200 + seed, (2, 8, 8))
    b = _Builder(np.random.default_rng(seed), x)
    b.conv("c0_int", 6, k=3, s=1, pad=1, pad_value=0, xnor=False, levels=1, in_levels=255, wvals=(-3, -2, -1, 1, 2, 3))
    b.conv("c1_xnor", 8, k=3, s=1, pad=1, pad_value=0, xnor=True, levels=1)
    c2 = b.conv("c2_xacc", 4, k=2, s=2, pad=0, pad_value=0, xnor=True, levels=0)
    _acc_threshold(b, "q2", 3, c2.acc_range())
    b.conv("c3_int", 5, k=3, s=1, pad=1, pad_value=0, xnor=False, levels=0, in_levels=3, wvals=(-1, 0, 1))
    return IntegerNetwork(b.layers, input_shape=(2, 8, 8), input_range=(0, 255)), x


def _not_degenerate(golden: IntegerNetwork, x) -> None:
    for name, y in golden.run(x, trace=True).items():
        y = np.asarray(y).reshape(len(x), -1)
        varying = np.mean(np.ptp(y, axis=0) > 0)
        assert varying >= 0.4, f"test network: layer {name!r} is nearly constant ({varying:.2f} of its outputs vary)"


# ------------------------------------------------------------------------------------------
# session fixtures: one g++ build per project


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hls_folding")


def _build(work: Path, name: str, maker, **kw):
    golden, x = maker()
    model = emit_project(golden, work / name, tb_inputs=x[:4], **kw)
    traces = csim_trace(model, x)  # compiles the project
    return golden, x, model, traces


PROJECTS = {
    "dense_a": (make_dense, dict(backend="Vitis", io_type="io_parallel", folding=FOLD_DENSE_A)),
    "dense_b": (make_dense, dict(backend="Vivado", io_type="io_stream", folding=FOLD_DENSE_B, reuse_factor=RF_DENSE_B)),
    "conv_a": (make_conv, dict(backend="Vitis", folding=FOLD_CONV_A)),
    "conv_b": (make_conv, dict(backend="Vivado", folding=FOLD_CONV_B)),
}


@pytest.fixture(scope="session")
def built(work):
    cache = {}

    def get(name: str):
        if name not in cache:
            maker, kw = PROJECTS[name]
            cache[name] = _build(work, name, maker, **kw)
        return cache[name]

    return get


# ------------------------------------------------------------------------------------------
# bit-exact C simulation


def test_test_networks_are_not_degenerate():
    for maker in (make_dense, make_conv):
        _not_degenerate(*maker())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PROJECTS))
def test_folded_csim_matches_golden(name, built):
    golden, x, model, traces = built(name)
    assert_traces_equal(traces, golden, x, f"{name} trace")  # every layer, first bad one named
    assert_outputs_equal(csim_predict(model, x), golden, x, f"{name} csim")


def _config_struct(params: str, index: int) -> str:
    start = params.index(f"struct config{index} :")
    return params[start : params.index("};", start)]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PROJECTS))
def test_folding_reaches_the_kernels_and_is_recorded(name, built):
    golden, _, model, _ = built(name)
    _, kw = PROJECTS[name]
    prj = Path(model.config.get_output_dir())
    params = (prj / "firmware" / "parameters.h").read_text()
    info = json.loads((prj / PROJECT_INFO).read_text())
    yml = yaml.safe_load((prj / "hls4ml_config.yml").read_text())["HLSConfig"]["LayerName"]
    plan = {entry["name"]: entry for entry in info["layers"]}
    mvus = [layer for layer in model.get_layers() if layer.class_name in (XNOR_DENSE_KIND, INT_DENSE_KIND, CONV_KIND)]
    assert sorted(layer.name for layer in mvus) == sorted(info["folding"])
    for layer in mvus:
        mw, mh = plan[layer.name]["mw"], plan[layer.name]["mh"]
        given = kw["folding"].get(layer.name)
        if given is not None:
            pe, simd = given.get("PE", mh), given.get("SIMD", mw)
        else:  # ReuseFactor folding
            pe, simd = -(-mh // kw["reuse_factor"][layer.name]), mw
        nf, sf = -(-mh // pe), mw // simd
        struct = _config_struct(params, layer.index)
        assert f"static const unsigned pe = {pe}, simd = {simd};" in struct, (layer.name, struct)
        assert f"static const unsigned nf = {nf}, sf = {sf};" in struct, (layer.name, struct)
        assert f"static const unsigned mw = {mw}, mh = {mh};" in struct, (layer.name, struct)
        rec = info["folding"][layer.name]
        assert (rec["PE"], rec["SIMD"], rec["NF"], rec["SF"], rec["MW"], rec["MH"]) == (pe, simd, nf, sf, mw, mh), (
            layer.name
        )
        assert (plan[layer.name]["pe"], plan[layer.name]["simd"], plan[layer.name]["n_fold"]) == (pe, simd, nf * sf)
        if given is not None:
            # hls4ml's ReuseFactor is the number of steps; Pe / Simd are the layer's HLS-config keys
            assert rec["from"] == "folding" and layer.get_attr("reuse_factor") == nf * sf == rec["reuse_factor"]
            assert (yml[layer.name]["Pe"], yml[layer.name]["Simd"], yml[layer.name]["ReuseFactor"]) == (
                pe,
                simd,
                nf * sf,
            )
            assert f"static const unsigned reuse_factor = {nf * sf};" in struct
        else:
            assert (
                rec["from"] == "reuse_factor"
                and layer.get_attr("reuse_factor") == kw["reuse_factor"][layer.name] == rec["reuse_factor"]
            )
            assert "Pe" not in yml[layer.name]
        # the reuse_factor argument, per layer (what hw_bnn.sim.csim.load_csim compares)
        assert info["reuse_factor"][layer.name] == (kw.get("reuse_factor") or {}).get(layer.name, 1)
        if layer.get_attr("xnor", False) or layer.class_name == XNOR_DENSE_KIND:
            bits, words = min(simd, 32), -(-simd // min(simd, 32))
            assert f"static const unsigned word_bits = {bits}, chunk_words = {words};" in struct, (layer.name, struct)
            assert str(layer.get_weights("weight").type.precision) == f"uint<{bits}>"
        assert f"static const unsigned n_weights = {layer.get_weights('weight').data_length};" in struct
    if name == "dense_b":
        assert (
            "d1_int2" not in kw["folding"] and info["folding"]["d1_int2"]["PE"] * 3 == 12
        )  # ragged: 3 folds of 4 for 10 rows
    # something folded: the top function is a dataflow region
    assert "#pragma HLS DATAFLOW" in (prj / "firmware" / "hw_bnn.cpp").read_text()


# ------------------------------------------------------------------------------------------
# weight memory layout (no compile)


@pytest.mark.parametrize("xnor", [False, True])
@pytest.mark.parametrize(
    "mw, mh, pe, simd", [(12, 10, 5, 4), (70, 12, 3, 35), (70, 12, 1, 70), (9, 10, 4, 9), (6, 4, 4, 1)]
)
def test_weight_memory_layout(xnor, mw, mh, pe, simd):
    rng = np.random.default_rng(mw * 100 + mh + pe + simd)
    w = rng.integers(0, 2, size=(mw, mh)) if xnor else rng.integers(-3, 4, size=(mw, mh))
    mem, bits, words = mvu_weight_memory(w, pe, simd, xnor)
    nf, sf = -(-mh // pe), mw // simd
    assert mem.shape == (nf * sf * pe * words,)
    for n in range(nf):
        for s in range(sf):
            for k in range(pe):
                j = n * pe + k
                base = ((n * sf + s) * pe + k) * words
                col = w[s * simd : (s + 1) * simd, j] if j < mh else np.zeros(simd, dtype=np.int64)
                if not xnor:
                    assert words == simd
                    np.testing.assert_array_equal(mem[base : base + words], col)
                else:
                    assert bits == min(simd, 32) and words == -(-simd // bits)
                    got = [(int(mem[base + i // bits]) >> (i % bits)) & 1 for i in range(simd)]
                    np.testing.assert_array_equal(got, col)
                    assert all(0 <= int(v) < 2**bits for v in mem[base : base + words])
                    if simd % bits:  # unused high bits of the last word are 0
                        assert int(mem[base + words - 1]) >> (simd % bits) == 0


# ------------------------------------------------------------------------------------------
# illegal foldings (no compile)


def test_illegal_folding_names_the_layer(tmp_path):
    dense, _ = make_dense()
    conv, _ = make_conv()
    cases = [
        (dense, {"d0_int8": {"SIMD": 5}}, r"layer 'd0_int8': SIMD=5 does not divide MW=24.*1, 2, 3, 4, 6, 8, 12, 24"),
        (dense, {"d2_x": {"PE": 3, "SIMD": 10}}, r"layer 'd2_x': PE=3 does not divide MH=70"),
        (dense, {"d3_x": {"PE": 24}}, r"layer 'd3_x': PE=24 exceeds MH=12"),
        (dense, {"d4_xacc": {"PE": 0}}, r"layer 'd4_xacc': PE must be a positive integer, got 0"),
        (dense, {"d4_xacc": {"SIMD": True}}, r"layer 'd4_xacc': SIMD must be a positive integer"),
        (dense, {"d4_xacc": {"SIMD": 2.0}}, r"layer 'd4_xacc': SIMD must be a positive integer"),
        (dense, {"d4_xacc": {"pe": 2}}, r"layer 'd4_xacc': a folding entry is a mapping with keys 'PE' and/or 'SIMD'"),
        (dense, {"d4_xacc": 2}, r"layer 'd4_xacc': a folding entry"),
        (
            dense,
            {"q1": {"PE": 1}},
            r"layer 'q1': folding \(PE/SIMD\) applies to matrix-vector layers.*"
            r"'d0_int8', 'd1_int2', 'd2_x', 'd3_x', 'd4_xacc'",
        ),
        (
            dense,
            {"fc9": {"PE": 1}},
            r"folding names unknown layers \['fc9'\]; the matrix-vector layers are: "
            r"'d0_int8', 'd1_int2', 'd2_x', 'd3_x', 'd4_xacc'",
        ),
        (dense, [("d0_int8", {"PE": 1})], r"folding must be a mapping"),
        (
            conv,
            {"c1_xnor": {"SIMD": 4}},
            r"layer 'c1_xnor': SIMD=4 does not divide MW=54 \(= 3\*3\*6, kernel\*kernel\*C_in\)",
        ),
        (conv, {"c3_int": {"PE": 2}}, r"layer 'c3_int': PE=2 does not divide MH=5"),
    ]
    for golden, folding, match in cases:
        with pytest.raises(EmitError, match=match) as err:
            emit_project(golden, tmp_path / "p", folding=folding)
        assert isinstance(err.value, HwBnnError)
    # a layer named by both folding and reuse_factor
    with pytest.raises(EmitError, match=r"layer 'd1_int2': named by both folding and reuse_factor"):
        emit_project(dense, tmp_path / "p", folding={"d1_int2": {"PE": 1}}, reuse_factor={"d1_int2": 2})
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_resolve_folding_defaults():
    dense, _ = make_dense()
    plan = plan_network(dense)
    # no folding, reuse_factor 1: fully parallel (the old behaviour)
    f = resolve_folding(plan)
    assert {n: (r["PE"], r["SIMD"], r["NF"], r["SF"]) for n, r in f.items()} == {
        "d0_int8": (12, 24, 1, 1),
        "d1_int2": (10, 12, 1, 1),
        "d2_x": (70, 10, 1, 1),
        "d3_x": (12, 70, 1, 1),
        "d4_xacc": (6, 12, 1, 1),
    }
    # reuse_factor only: PE = ceil(MH / RF), SIMD = MW; a folding entry overrides it, a missing key is parallel
    f = resolve_folding(plan, reuse_factor=4, folding={"d2_x": {"SIMD": 2}})
    assert (f["d3_x"]["PE"], f["d3_x"]["NF"], f["d3_x"]["SIMD"], f["d3_x"]["from"]) == (3, 4, 70, "reuse_factor")
    assert (f["d1_int2"]["PE"], f["d1_int2"]["NF"]) == (3, 4)  # 10 rows, 4 folds of 3 (ragged)
    assert (f["d2_x"]["PE"], f["d2_x"]["SIMD"], f["d2_x"]["SF"], f["d2_x"]["reuse_factor"], f["d2_x"]["from"]) == (
        70,
        2,
        5,
        5,
        "folding",
    )
    conv, _ = make_conv()
    f = resolve_folding(plan_network(conv), folding={"c1_xnor": {"PE": 2, "SIMD": 27}})
    # cycles per frame: NF * SF per output pixel (8 x 8 of them)
    assert (f["c1_xnor"]["NF"], f["c1_xnor"]["SF"], f["c1_xnor"]["cycles_per_frame"]) == (4, 2, 4 * 2 * 64)
