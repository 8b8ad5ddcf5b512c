"""The float export against the integer semantics: every difference a proven rounding tie.

With a scale that is not a power of two (metadata ``hw_bnn.float_scales``) the exported graph
computes each linear layer's output ``y = sum_k x_k w_k`` in float32 and rounds it, while the
integer graph computes the exact integer accumulator and then the scales in float32: the
model's *integer semantics*, which the hardware computes.  After that both run the same
float32 chain (bias, BatchNorm, the quantizer), monotone in ``y`` per channel (the compiler
made thresholds of it).  A code can therefore differ only where ``y`` lies within rounding of
a boundary of that chain.

:func:`compare_with_export` runs both graphs on every input, keeps every quantizer's codes and
the outputs, and for each image whose codes or class differ proves it at the first quantizer
(in graph order) and first element that differ, or at the two classes:

* ``y*``: the layer's output in float64 from the export's own float32 inputs of that layer
  (shared by both sides, since every earlier code agrees); the products are exact in float64;
* the rounding bound ``E = max(E_f, E_i)`` with ``u = 2^-24``, ``gamma_n = n u / (1 - n u)``,
  ``S = sum_k |x_k w_k|``: the export's sum ``E_f = gamma_{K+1} (S + |b|)`` (Higham,
  *Accuracy and Stability of Numerical Algorithms*, eq. 3.5); the integer side
  ``E_i = gamma_6 (S + 2 |beta| sum_k |w_k| + |b|)`` (the float32 rounding of the export's
  weights and inputs, then the scale steps on the exact accumulator; ``beta`` the input
  quantizer's value at code 0), plus float64's own ``gamma_{K+1} (S + |b|)`` at ``2^-53``;
* the codes (or outputs) at ``y* - E`` and ``y* + E`` through the export's float32 chain.

A code difference is a rounding tie when both codes, the export's and the integer graph's,
lie between those two codes: a boundary of the chain lies within ``E`` of the exact value.  A
class difference is one when the two classes' output intervals overlap.  Every output value of
every image is checked the same way (the integer graph's and the export's outputs both within
the interval).  Anything else raises :class:`hw_bnn.errors.CompileError` naming the image, the
node and the element.
"""

from __future__ import annotations

import numpy as np

from hw_bnn.compile.graph import CODE_PATH, ELEMENTWISE, QUANTIZERS, attrs, run_chain
from hw_bnn.errors import CompileError

U32 = 2.0**-24  # float32 unit roundoff
U64 = 2.0**-53
SOURCES = {"MatMul", "Conv", "Gemm", "GlobalAveragePool", "AveragePool"}  # what a quantizer's chain starts from


def gamma(n: int, u: float = U32) -> float:
    """``gamma_n = n u / (1 - n u)``: the relative bound of ``n`` rounded operations."""
    return n * u / (1.0 - n * u)


def chain_between(model, tensor: str):
    """(the linear node, the elementwise nodes) that compute ``tensor`` from one linear node's
    output (MatMul, Conv, Gemm or an average pooling), in graph order; or (None, None)."""
    nodes, stack, seen, source = {}, [tensor], set(), None
    while stack:
        t = stack.pop()
        if t in seen:
            continue
        seen.add(t)
        p = model.find_producer(t)
        if p is not None and p.op_type in SOURCES:
            if source not in (None, p):
                return None, None
            source = p
            continue
        if p is None or p.op_type not in ELEMENTWISE:
            return None, None
        nodes[p.name] = p
        stack.extend(i for i in p.input if i and model.get_initializer(i) is None)
    order = {n.name: i for i, n in enumerate(model.graph.node)}
    return source, sorted(nodes.values(), key=lambda n: order[n.name])


def _input_beta(model, lin) -> float:
    """|value at code 0| of the quantizer feeding ``lin`` (through Pad / MaxPool / Flatten /
    Reshape), or 0 where none does."""
    from hw_bnn.compile.passes.chains import quantizer_levels

    t = lin.input[0]
    p = model.find_producer(t)
    while p is not None and p.op_type in CODE_PATH:
        p = model.find_producer(p.input[0])
    if p is None or p.op_type not in QUANTIZERS:
        return 0.0
    return abs(float(quantizer_levels(model, p)[3]))


def exact_output(model, lin, ctx: dict, images):
    """``(y*, S, sum |w|, |b|, K)`` of ``lin`` for the ``images`` (an index array), in float64,
    each of ``lin``'s output shape: ``y* = sum_k x_k w_k + b`` from the export's float32 tensors
    in ``ctx``."""
    import torch

    x = torch.from_numpy(np.asarray(ctx[lin.input[0]][images], dtype=np.float64))
    a = attrs(lin)
    if lin.op_type in ("GlobalAveragePool", "AveragePool"):  # weights 1 / k^2 over each window
        kernel = list(x.shape[2:]) if lin.op_type == "GlobalAveragePool" else list(a["kernel_shape"])
        strides = list(a.get("strides", kernel)) if lin.op_type == "AveragePool" else [1, 1]
        y = torch.nn.functional.avg_pool2d(x, kernel, strides)
        s = torch.nn.functional.avg_pool2d(x.abs(), kernel, strides)
        return y.numpy(), s.numpy(), np.ones_like(y.numpy()), np.zeros_like(y.numpy()), int(np.prod(kernel))
    w = torch.from_numpy(np.asarray(ctx[lin.input[1]], dtype=np.float64))
    b = torch.from_numpy(np.asarray(ctx[lin.input[2]], dtype=np.float64)) if len(lin.input) > 2 else None
    if lin.op_type == "Conv":
        kw = {
            "stride": tuple(a.get("strides", [1, 1])),
            "padding": tuple(a.get("pads", [0, 0, 0, 0])[:2]),
            "dilation": tuple(a.get("dilations", [1, 1])),
            "groups": int(a.get("group", 1)),
        }
        pads = a.get("pads", [0, 0, 0, 0])
        if list(pads[:2]) != list(pads[2:]):
            raise CompileError(f"node {lin.name} (Conv): asymmetric padding {list(pads)} in the near-tie proof")
        conv = torch.nn.functional.conv2d
        ones = torch.ones_like(x)
        y, s, wsum = conv(x, w, **kw), conv(x.abs(), w.abs(), **kw), conv(ones, w.abs(), **kw)
        k = int(np.prod(w.shape[1:]))
        shape = (1, -1, 1, 1)
    else:
        if lin.op_type == "Gemm" and int(a.get("transB", 0)):
            w = w.T
        y, s = x @ w, x.abs() @ w.abs()
        wsum = torch.ones_like(x) @ w.abs()
        k, shape = int(w.shape[0]), (1, -1)
    babs = np.zeros(tuple(y.shape))
    if b is not None:
        y = y + b.reshape(shape)
        babs = np.broadcast_to(b.abs().reshape(shape).numpy(), tuple(y.shape))
    return y.numpy(), s.numpy(), wsum.numpy(), babs, k


def rounding_bound(s, wsum, babs, k: int, beta: float):
    """``E = max(E_f, E_i) + gamma_{K+1}(S + |b|)`` at float64 (module docstring)."""
    e_f = gamma(k + 1) * (s + babs)
    e_i = gamma(6) * (s + 2.0 * beta * wsum + babs)
    return np.maximum(e_f, e_i) + gamma(k + 1, U64) * (s + babs)


def chain_at(model, lin, chain: list, out: str, values: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """The export's float32 chain from ``lin``'s output to ``out`` at ``values`` (each of the
    channel ``channels[m]``; :func:`hw_bnn.compile.graph.run_chain`), shape ``(M,)``."""
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    if not chain:
        return values
    res = run_chain(model, lin.output[0], chain, out, values)
    res = res.reshape(len(values), res.shape[1], -1)[:, :, 0]
    return res[np.arange(len(values)), np.asarray(channels).reshape(-1)]


def _codes(model, node, value: np.ndarray) -> np.ndarray:
    """A quantizer's (export) or MultiThreshold's (integer graph) output value -> its code."""
    if node.op_type == "BipolarQuant":
        return (value > 0).astype(np.int64)
    if node.op_type == "Quant":
        from hw_bnn.compile.passes.chains import quantizer_levels

        _, _, scale, bias, _ = quantizer_levels(model, node)
    else:
        a = attrs(node)
        scale, bias = float(a.get("out_scale", 1.0)), float(a.get("out_bias", 0.0))
    return np.round((value.astype(np.float64) - bias) / scale).astype(np.int64)


def _paired_quantizers(exported, integer) -> list:
    """``(export quantizer, integer MultiThreshold)`` pairs on the same output tensor, in the
    export's graph order (the activation quantizers whose thresholds the hardware keeps)."""
    pairs = []
    for q in exported.graph.node:
        if q.op_type not in QUANTIZERS or exported.get_initializer(q.input[0]) is not None:
            continue
        mt = integer.find_producer(q.output[0])
        if mt is not None and mt.op_type == "MultiThreshold":
            pairs.append((q, mt))
    return pairs


def _full_context(model, x: np.ndarray, cache: dict) -> dict:
    """Every tensor of ``model`` on the batch ``x`` (qonnx ``execute_onnx``)."""
    from qonnx.core.onnx_exec import execute_onnx
    from qonnx.transformation.change_batchsize import ChangeBatchSize
    from qonnx.transformation.infer_shapes import InferShapes

    key = (id(model), len(x))
    if key not in cache:
        cache[key] = model.transform(ChangeBatchSize(len(x))).transform(InferShapes())
    name = model.graph.input[0].name
    return execute_onnx(cache[key], {name: np.ascontiguousarray(x, dtype=np.float32)}, return_full_exec_context=True)


def _first_differences(exported, integer, pairs: list, ctx_f: dict, ctx_i: dict, n: int) -> dict:
    """Per image: the first quantizer (in graph order) and element whose codes differ,
    ``{image: (q, flat element, export code, integer code)}``."""
    first = {}
    for q, mt in pairs:
        c_f = _codes(exported, q, ctx_f[q.output[0]]).reshape(n, -1)
        c_i = _codes(integer, mt, ctx_i[q.output[0]]).reshape(n, -1)
        for img in np.flatnonzero(np.any(c_f != c_i, axis=1)):
            if int(img) not in first:
                e = int(np.flatnonzero(c_f[img] != c_i[img])[0])
                first[int(img)] = (q, e, int(c_f[img, e]), int(c_i[img, e]))
    return first


def _not_a_tie(img: int, where: str, detail: str) -> CompileError:
    return CompileError(
        f"image {img}: the float export and the integer graph differ at {where}, and it is not a float "
        f"rounding tie ({detail}); the integer graph does not compute the model's integer semantics"
    )


def prove_code(exported, q, ctx_f: dict, img: int, e: int, c_f: int, c_i: int, base: int = 0) -> dict:
    """The proof that quantizer ``q``'s codes ``c_f`` (export) and ``c_i`` (integer graph) at
    flat element ``e`` of image ``img`` of the batch ``ctx_f`` (image ``base + img`` of the set)
    differ by rounding (module docstring), or CompileError."""
    where = f"node {q.name} ({q.op_type}) element {e}"
    lin, chain = chain_between(exported, q.input[0])
    if lin is None:
        raise _not_a_tie(base + img, where, "its input is not an elementwise chain of one linear layer's output")
    y, s, wsum, babs, k = exact_output(exported, lin, ctx_f, [img])
    bound = rounding_bound(s, wsum, babs, k, _input_beta(exported, lin)).reshape(-1)[e]
    ye = float(y.reshape(-1)[e])
    channel = int(np.unravel_index(e, y.shape[1:])[0])
    v = chain_at(exported, lin, chain + [q], q.output[0], [ye - bound, ye + bound], [channel, channel])
    k_lo, k_hi = sorted(int(c) for c in _codes(exported, q, v))
    proof = {
        "image": base + img,
        "at": q.name,
        "element": e,
        "layer": lin.name,
        "exact": ye,
        "bound": float(bound),
        "codes_in_bound": [k_lo, k_hi],
        "export": c_f,
        "integer": c_i,
    }
    if k_lo == k_hi or not (k_lo <= c_f <= k_hi and k_lo <= c_i <= k_hi):
        raise _not_a_tie(
            base + img,
            where,
            f"the exact value {ye:.9g} of {lin.name}'s output, +-{bound:.3g}, gives codes {k_lo}..{k_hi}; "
            f"export {c_f}, integer {c_i}",
        )
    return proof


def output_brackets(exported, ctx_f: dict, images: np.ndarray):
    """(lo, hi) of the export's outputs for ``images`` over ``y* +- E`` of the last linear layer,
    shape (M, C); or None when the output is not an elementwise chain of one."""
    out = exported.graph.output[0].name
    lin, chain = chain_between(exported, out)
    if lin is None or not len(images):
        return None
    y, s, wsum, babs, k = exact_output(exported, lin, ctx_f, images)
    bound = rounding_bound(s, wsum, babs, k, _input_beta(exported, lin))
    m, c = y.shape[0], int(np.prod(y.shape[1:]))
    channels = np.tile(np.arange(c), m)
    ends = [chain_at(exported, lin, chain, out, (y + d * bound).reshape(-1), channels).reshape(m, c) for d in (-1, 1)]
    return np.minimum(*ends), np.maximum(*ends)


def check_outputs(exported, ctx_f: dict, images: np.ndarray, o_f: np.ndarray, o_i: np.ndarray, base: int) -> dict:
    """The outputs of ``images`` (whose codes all agree): every value of both sides within the
    bracket of the exact output, and where the classes differ, the two classes' brackets
    overlap.  Returns the image numbers with value and with class differences."""
    values = np.flatnonzero(np.any(o_f[images] != o_i[images], axis=1))
    res = {"values": [base + int(images[i]) for i in values], "classes": [], "first": None}
    if not values.size:
        return res
    br = output_brackets(exported, ctx_f, images[values])
    if br is None:
        raise _not_a_tie(base + int(images[values[0]]), "the output", "the output is not a chain of a linear layer")
    lo, hi = br
    for j, i in enumerate(images[values]):
        img = base + int(i)
        inside = (lo[j] <= o_f[i]) & (o_f[i] <= hi[j]) & (lo[j] <= o_i[i]) & (o_i[i] <= hi[j])
        if not inside.all():
            c = int(np.flatnonzero(~inside)[0])
            raise _not_a_tie(
                img,
                f"output {c}",
                f"export {o_f[i, c]:.9g}, integer {o_i[i, c]:.9g}, "
                f"the exact output within [{lo[j, c]:.9g}, {hi[j, c]:.9g}]",
            )
        a, b = int(o_f[i].argmax()), int(o_i[i].argmax())
        if a != b:
            if max(lo[j, a], lo[j, b]) > min(hi[j, a], hi[j, b]):
                raise _not_a_tie(img, f"the class ({a} against {b})", "the two classes' output brackets do not overlap")
            res["classes"].append(img)
            res["first"] = res["first"] or {"image": img, "at": "output", "classes": [a, b]}
    return res


def compare_with_export(exported, integer, golden, x_model, x_int, batch_size: int = 64) -> dict:
    """The export (run on ``x_model``) against the integer graph (on ``x_int``) on every image,
    every difference proven a rounding tie (module docstring), or CompileError.  Returns the
    counts: images, images with value differences, with class differences, and with code
    differences (near-ties, each proven), the quantizers compared, and the first proof."""
    from qonnx.util.cleanup import cleanup_model

    exported = cleanup_model(exported)
    pairs = _paired_quantizers(exported, integer)
    cache: dict = {}
    res = {"images": len(x_int), "quantizers_compared": len(pairs), "value_differences": 0}
    res.update({"decision_differences": 0, "code_differences": 0, "near_ties": 0, "first": None})
    for start in range(0, len(x_int), batch_size):
        xi, xm = x_int[start : start + batch_size], x_model[start : start + batch_size]
        n = len(xi)
        ctx_f, ctx_i = _full_context(exported, xm, cache), _full_context(integer, xi, cache)
        o_f = ctx_f[exported.graph.output[0].name].reshape(n, -1)
        o_i = golden.apply_output_affine(ctx_i[integer.graph.output[0].name]).reshape(n, -1)
        first = _first_differences(exported, integer, pairs, ctx_f, ctx_i, n)
        for img, (q, e, c_f, c_i) in sorted(first.items()):
            proof = prove_code(exported, q, ctx_f, img, e, c_f, c_i, start)
            res["first"] = res["first"] or proof
        clean = np.array([i for i in range(n) if i not in first], dtype=np.int64)
        out = check_outputs(exported, ctx_f, clean, o_f, o_i, start)
        res["first"] = res["first"] or out["first"]
        res["code_differences"] += len(first)
        res["value_differences"] += int(np.any(o_f != o_i, axis=1).sum())
        res["decision_differences"] += int((o_f.argmax(1) != o_i.argmax(1)).sum())
        res["near_ties"] += len(first) + len(out["classes"])
    return res
