"""Threshold extraction and the chain-absorbing pass, checked exhaustively on the domain."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw_bnn.compile.lower import lower_to_ir
from hw_bnn.compile.passes import AbsorbQuantizerChains
from hw_bnn.compile.pipeline import compile_model
from hw_bnn.compile.qonnx_run import run_qonnx
from hw_bnn.errors import CompileError
from hw_bnn.ir.thresholds import NonMonotoneError, multithreshold, thresholds_from_codes
from tests.graphs import QD, GraphBuilder


def _step_codes(rng, d, c, levels, decreasing):
    steps = rng.integers(0, 2, size=(d - 1, c)) * rng.integers(0, 2, size=(d - 1, c))
    codes = np.concatenate([np.zeros((1, c), int), np.cumsum(steps, axis=0)], axis=0)
    codes = np.minimum(codes, levels)
    codes[:, decreasing] = codes[::-1, decreasing]
    return codes


@given(
    lo=st.integers(-300, 300),
    d=st.integers(1, 80),
    c=st.integers(1, 6),
    levels=st.integers(1, 7),
    seed=st.integers(0, 2**31 - 1),
)
def test_thresholds_reproduce_any_monotone_table(lo, d, c, levels, seed):
    rng = np.random.default_rng(seed)
    dec = rng.random(c) < 0.5
    codes = _step_codes(rng, d, c, levels, dec)
    domain = np.arange(lo, lo + d)
    thr, flipped = thresholds_from_codes(domain, codes, levels, allow_flip=True)
    assert thr.shape == (c, levels)
    hi = lo + d - 1
    for ch in range(c):
        a = (lo + hi - domain) if flipped[ch] else domain
        assert np.array_equal(multithreshold(a[:, None], thr[ch : ch + 1])[:, 0], codes[:, ch]), ch
    # constant channels are never flipped; strictly decreasing ones always are
    const = np.all(codes == codes[:1], axis=0)
    assert not np.any(flipped & const)


def test_non_monotone_names_channel():
    codes = np.array([[0, 0], [0, 1], [0, 0]])
    with pytest.raises(NonMonotoneError) as e:
        thresholds_from_codes(np.arange(3), codes, 1, allow_flip=True)
    assert e.value.channel == 1 and "channel 1" in str(e.value)


def test_decreasing_without_flip_is_refused():
    codes = np.array([[1], [1], [0]])
    with pytest.raises(NonMonotoneError, match="decreasing"):
        thresholds_from_codes(np.arange(3), codes, 1, allow_flip=False)


# --- the AbsorbQuantizerChains pass on its own, with BatchNorm chains --------------------

special = st.sampled_from([0.0, 1e-30, -1e-30, 1e-7, -1e-7])
normal = st.floats(-5, 5, allow_nan=False, width=32)
gamma_s = st.one_of(special, normal)
var_s = st.one_of(st.sampled_from([0.0, 1e-30, 1e-12]), st.floats(0, 50, width=32))


def _xnor_bn_graph(n, gammas, betas, means, variances, eps):
    """bits -> XnorPopcountMatMul(all-ones weights) -> 2p - N -> BN -> sign.

    With all-ones weights p = popcount(x), so inputs with k ones cover the domain 0..N."""
    c = len(gammas)
    b = GraphBuilder()
    w = b.const(np.ones((n, c)))
    p = b.node("XnorPopcountMatMul", ["x", w], domain=QD)
    a = b.node("Add", [b.node("Mul", [p, b.const(2.0)]), b.const(float(-n))])
    y = b.bn(a, gammas, betas, means, variances, eps)
    out = b.bipolar(y)
    m = b.model("x", [1, n], out, in_dtype="BINARY")
    from qonnx.core.datatype import DataType

    m.set_tensor_datatype(w, DataType["BINARY"])
    return m


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 300),
    params=st.lists(st.tuples(gamma_s, normal, st.floats(-300, 300, width=32), var_s), min_size=1, max_size=6),
    eps=st.sampled_from([1e-5, 1e-3, 0.0]),
)
def test_absorb_bn_sign_chain_exact_on_whole_domain(n, params, eps):
    g, be, mu, var = (np.array(v, dtype=np.float32) for v in zip(*params))
    if eps == 0.0:
        var = np.maximum(var, 1e-6).astype(np.float32)  # BN with eps 0 and var 0 is undefined
    model = _xnor_bn_graph(n, g, be, mu, var, eps)
    x = (np.arange(n)[None, :] < np.arange(n + 1)[:, None]).astype(np.float32)  # k ones, k = 0..N
    ref = run_qonnx(model, x)
    integer, changed = AbsorbQuantizerChains().apply(model)
    assert changed
    assert [nd.op_type for nd in integer.graph.node] == ["XnorPopcountMatMul", "MultiThreshold"]
    got = run_qonnx(integer, x)
    mism = np.argwhere(got != ref)
    assert len(mism) == 0, f"{len(mism)} mismatches, first at popcount {mism[0][0]} channel {mism[0][1]}"


def test_absorb_refuses_non_monotone_chain_naming_node_and_channel():
    # PReLU with a negative slope then an offset: |a|-like, rises and falls -> not monotone.
    b = GraphBuilder()
    p = b.node("Add", ["x", b.const([0.0, -3.0])])
    p = b.node("PRelu", [p, b.const([0.5, -1.0])])
    out = b.bipolar(b.node("Add", [p, b.const([-0.5, -1.5])]))
    m = b.model("x", [1, 2], out, in_dtype="UINT4")
    with pytest.raises(CompileError) as e:
        AbsorbQuantizerChains().apply(m)
    msg = str(e.value)
    assert "BipolarQuant" in msg and "channel 1" in msg and "not monotone" in msg


def test_input_quantizer_becomes_one_shared_threshold():
    b = GraphBuilder()
    x = b.node("Sub", [b.node("Mul", ["x", b.const(np.float32(2 / 255))]), b.const(np.float32(1.0))])
    out = b.bipolar(x)
    m = b.model("x", [1, 5], out, in_dtype="UINT8")
    integer, _ = AbsorbQuantizerChains().apply(m)
    mt = integer.graph.node[0]
    assert mt.op_type == "MultiThreshold" and mt.domain == QD
    thr = integer.get_initializer(mt.input[1])
    assert thr.shape == (1, 1)
    xs = np.tile(np.arange(256, dtype=np.float32)[:, None], (1, 5))
    assert np.array_equal(run_qonnx(integer, xs), run_qonnx(m, xs))
    assert thr[0, 0] == 128  # 2*p/255 - 1 >= 0  <=>  p >= 127.5


def test_whole_compile_with_negative_and_zero_gamma_is_exact():
    from tests.graphs import binary_mlp

    rng = np.random.default_rng(3)
    gam = [np.array([-1.0, 0.0, 1e-30, 2.0, -0.5, 1.0] * 2, dtype=np.float32)] * 2
    m = binary_mlp(rng, [30, 12, 12, 5], gammas=gam)
    integer = compile_model(m)
    ops = [n.op_type for n in integer.graph.node]
    assert set(ops) <= {"MultiThreshold", "XnorPopcountMatMul", "Mul", "Add"}
    x = rng.integers(0, 256, size=(400, 30)).astype(np.float32)
    ref = run_qonnx(m, x)
    golden = lower_to_ir(integer)
    acc = run_qonnx(integer, x)
    assert np.array_equal(golden.run(x), acc)
    assert np.array_equal(golden.apply_output_affine(acc), ref)
    # the integer graph documents its output affine
    assert integer.get_metadata_prop("hw_bnn.output_affine")
