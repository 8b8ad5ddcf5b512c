"""Property tests of absorbing general chains into thresholds (docs/flow.md, "Compile"): random elementwise chains
(per-channel Mul / Add / Div with any sign including zero, BatchNorm with negative, zero and
tiny gamma, PReLU with either slope sign, Clip, Relu) between an integer source and a sign or
multi-bit quantizer.  Each case is checked against direct evaluation of the exported graph."""

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hw_bnn.compile.lower import lower_to_ir
from hw_bnn.compile.pipeline import compile_model
from hw_bnn.compile.qonnx_run import run_qonnx
from hw_bnn.errors import CompileError
from tests.graphs import QD, GraphBuilder

C = 3  # channels
sign_val = st.one_of(st.sampled_from([0.0, -0.0, 1e-30, -1e-30]), st.floats(-4, 4, allow_nan=False, width=32))
vec = st.lists(sign_val, min_size=C, max_size=C)
step = st.one_of(
    st.tuples(st.just("Mul"), vec),
    st.tuples(st.just("Add"), st.lists(st.floats(-300, 300, width=32), min_size=C, max_size=C)),
    st.tuples(st.just("Div"), st.lists(st.sampled_from([0.5, -2.0, 3.0, 7.25, -0.1]), min_size=C, max_size=C)),
    st.tuples(
        st.just("BN"),
        st.tuples(
            vec,
            vec,
            st.lists(st.floats(-200, 200, width=32), min_size=C, max_size=C),
            st.lists(st.sampled_from([0.0, 1e-12, 1.0, 37.0, 900.0]), min_size=C, max_size=C),
        ),
    ),
    st.tuples(st.just("PRelu"), vec),
    st.tuples(st.just("Clip"), st.tuples(st.floats(-50, 0, width=32), st.floats(0, 50, width=32))),
    st.tuples(st.just("Relu"), st.none()),
)
quantizer = st.sampled_from(["bipolar", "int2", "uint2", "int3"])


def _chain(b: GraphBuilder, x: str, steps, shape_c) -> str:
    for op, p in steps:
        if op in ("Mul", "Add", "Div", "PRelu"):
            x = b.node(op, [x, b.const(np.asarray(p, np.float32).reshape(shape_c))])
        elif op == "BN":
            g, be, mu, var = (np.asarray(v, np.float32) for v in p)
            x = b.bn(x, g, be, mu, var, 1e-5)
        elif op == "Clip":
            x = b.node("Clip", [x, b.const(np.float32(p[0])), b.const(np.float32(p[1]))])
        else:
            x = b.node("Relu", [x])
    return x


def _quant(b: GraphBuilder, x: str, kind: str) -> str:
    if kind == "bipolar":
        return b.bipolar(x)
    bits, signed = {"int2": (2, 1), "uint2": (2, 0), "int3": (3, 1)}[kind]
    return b.node(
        "Quant",
        [x, b.const(np.float32(0.5)), b.const(np.float32(0.0)), b.const(np.float32(bits))],
        domain=QD,
        signed=signed,
        narrow=0,
        rounding_mode="ROUND",
    )


def _monotone_kind(codes: np.ndarray) -> str:
    d = np.diff(codes, axis=0)
    if np.all(d >= 0, axis=0).all():
        return "up"
    if np.all((d >= 0).all(axis=0) | (d <= 0).all(axis=0)):
        return "some_down"
    return "non_monotone"


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step, min_size=1, max_size=4),
    q=quantizer,
    dtype=st.sampled_from(["UINT8", "INT8", "UINT4", "INT12"]),
)
def test_chain_on_the_integer_input_is_absorbed_exactly_or_refused(steps, q, dtype):
    """Source: the integer input itself (every value of its range enumerable).  A
    non-decreasing chain must become thresholds equal to the chain on every value; otherwise
    (the input cannot be negated) compile must refuse, naming the quantizer node and a channel."""
    from qonnx.core.datatype import DataType

    b = GraphBuilder()
    out = _quant(b, _chain(b, "x", steps, (1, C)), q)
    m = b.model("x", [1, C], out)
    lo, hi = int(DataType[dtype].min()), int(DataType[dtype].max())
    xs = np.tile(np.arange(lo, hi + 1, dtype=np.float32)[:, None], (1, C))
    ref = run_qonnx(m, xs)
    codes = np.stack([np.unique(ref[:, c], return_inverse=True)[1] for c in range(C)], axis=1)
    kind = _monotone_kind(codes)
    event(kind)
    if kind == "up":
        integer = compile_model(m, input_dtype=dtype)
        got = run_qonnx(integer, xs)
        bad = np.argwhere(got != ref)
        assert len(bad) == 0, f"{len(bad)} mismatches, first at input {bad[0][0]} channel {bad[0][1]}"
    else:
        with pytest.raises(CompileError) as e:
            compile_model(m, input_dtype=dtype)
        assert "Quant" in str(e.value) and "channel" in str(e.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=4), q=quantizer, seed=st.integers(0, 2**31 - 1))
def test_chain_after_an_integer_layer_is_absorbed_with_flips(steps, q, seed):
    """Source: an integer accumulator (8-bit pixels x ternary weights).  Decreasing channels are
    flipped (negated weights), so any monotone chain is absorbed; the integer graph must equal the
    exported one on inputs that sweep each channel's accumulator over its whole range."""
    rng = np.random.default_rng(seed)
    n = 4
    w = rng.integers(-1, 2, size=(n, C)).astype(np.float32)
    w[0] = 1.0  # every channel depends on x[0]
    b = GraphBuilder()
    x = b.node("Mul", ["x", b.const(np.float32(1 / 256))])
    wq = b.node(
        "Quant",
        [b.const(w), b.const(np.float32(1.0)), b.const(np.float32(0.0)), b.const(np.float32(2.0))],
        domain=QD,
        signed=1,
        narrow=1,
        rounding_mode="ROUND",
    )
    acc = b.node("MatMul", [x, wq])
    out = _quant(b, _chain(b, acc, steps, (1, C)), q)
    y = b.node("MatMul", [out, b.const(np.ones((C, 2), np.float32))])  # a consumer, as in a network
    m = b.model("x", [1, n], y)
    # sweeps: x[0] over 0..255 with the other inputs at several fixed patterns, plus random images
    sweeps = [
        np.column_stack([np.arange(256), np.tile(v, (256, 1))]) for v in ([0, 0, 0], [255, 255, 255], [255, 0, 128])
    ]
    xs = np.concatenate(sweeps + [rng.integers(0, 256, size=(200, n))]).astype(np.float32)
    ref = run_qonnx(m, xs)
    try:
        integer = compile_model(m)
    except CompileError as e:
        # only a chain that is not monotone in the accumulator may be refused
        assert "not monotone" in str(e) and "channel" in str(e), str(e)
        event("refused: not monotone")
        return
    event(
        "absorbed, flipped"
        if any(
            n.op_type == "MatMul" and np.any(integer.get_initializer(n.input[1]) != w)
            for n in integer.graph.node
            if integer.get_initializer(n.input[1]) is not None and integer.get_initializer(n.input[1]).shape == w.shape
        )
        else "absorbed"
    )
    golden = lower_to_ir(integer)
    got = golden.apply_output_affine(golden.run(xs))
    bad = np.argwhere(got != ref)
    assert len(bad) == 0, f"{len(bad)} mismatches, first at image {bad[0][0]}"
    assert np.array_equal(golden.run(xs), run_qonnx(integer, xs))


@pytest.mark.parametrize("q", ["bipolar", "int3"])
def test_domain_too_large_to_enumerate_uses_search_and_boundaries(monkeypatch, q):
    """Above MAX_DOMAIN the thresholds come from bisection on the chain and are confirmed at
    every boundary; they must agree with direct evaluation around each threshold."""
    import hw_bnn.compile.passes.chains as comp

    monkeypatch.setattr(comp, "MAX_DOMAIN", 1000)  # the 0..65535 input now counts as large
    b = GraphBuilder()
    x = _chain(
        b,
        "x",
        [
            ("Mul", [0.001, 0.0037, -0.0]),
            ("BN", ([1.5, 2.0, 1.0], [0.1, -0.2, 0.0], [30.0, 100.0, 0.0], [4.0, 9.0, 1.0])),
        ],
        (1, C),
    )
    m = b.model("x", [1, C], _quant(b, x, q))
    integer = compile_model(m, input_dtype="UINT16")
    thr = integer.get_initializer(integer.graph.node[0].input[1])
    # every threshold and its neighbours, plus random values, per channel
    pts = np.unique(
        np.clip(np.concatenate([thr.reshape(-1) + d for d in (-2, -1, 0, 1)] + [np.arange(0, 65536, 97)]), 0, 65535)
    )
    xs = np.tile(pts.astype(np.float32)[:, None], (1, C))
    assert np.array_equal(run_qonnx(integer, xs), run_qonnx(m, xs))
    assert len(np.unique(run_qonnx(m, xs)[:, 1])) > 1  # the channel really switches


def test_search_refuses_a_decreasing_input_chain(monkeypatch):
    import hw_bnn.compile.passes.chains as comp

    monkeypatch.setattr(comp, "MAX_DOMAIN", 1000)
    b = GraphBuilder()
    x = _chain(b, "x", [("Mul", [0.001, -0.001, 0.001]), ("Add", [-3.0, 3.0, -1.0])], (1, C))
    m = b.model("x", [1, C], _quant(b, x, "bipolar"))
    with pytest.raises(CompileError, match="channel 1 is decreasing"):
        compile_model(m, input_dtype="UINT16")


def test_search_flips_decreasing_channels_of_an_integer_layer(monkeypatch):
    import hw_bnn.compile.passes.chains as comp

    monkeypatch.setattr(comp, "MAX_DOMAIN", 500)  # the [-510, 510] accumulator is searched
    # the chain sees acc / 256 in [-2, 2]
    steps = [("BN", ([-1.0, 2.0, -0.5], [0.2, -0.1, 0.0], [0.0, -0.2, 0.5], [1.0, 0.25, 0.04]))]
    b = GraphBuilder()
    x = b.node("Mul", ["x", b.const(np.float32(1 / 256))])
    w = np.array([[1, 1, 1], [1, -1, 0], [0, 1, -1], [-1, 0, 1]], np.float32)
    wq = b.node(
        "Quant",
        [b.const(w), b.const(np.float32(1.0)), b.const(np.float32(0.0)), b.const(np.float32(2.0))],
        domain=QD,
        signed=1,
        narrow=1,
        rounding_mode="ROUND",
    )
    out = _quant(b, _chain(b, b.node("MatMul", [x, wq]), steps, (1, C)), "int2")
    m = b.model("x", [1, 4], b.node("MatMul", [out, b.const(np.ones((C, 2), np.float32))]))
    integer = compile_model(m)
    wf = [integer.get_initializer(n.input[1]) for n in integer.graph.node if n.op_type == "MatMul"][0]
    assert np.array_equal(wf, w * np.array([-1, 1, -1], np.float32))  # channels 0 and 2 flipped
    rng = np.random.default_rng(0)
    xs = np.concatenate(
        [np.column_stack([np.arange(256)] + [np.full(256, v) for v in (0, 255, 7)]), rng.integers(0, 256, (300, 4))]
    )
    xs = xs.astype(np.float32)
    golden = lower_to_ir(integer)
    assert np.array_equal(golden.apply_output_affine(golden.run(xs)), run_qonnx(m, xs))
