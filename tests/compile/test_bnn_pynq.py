"""The canonical Brevitas example MLPs (``brevitas_examples.bnn_pynq``: TFC, SFC, LFC at every
shipped bit width, the networks FINN's tests use) compile and equal their QONNX export exactly.

Each model is untrained, with random BatchNorm and TensorNorm statistics and affine parameters
(negative, zero and tiny gammas included).  Its export flattens the image before the input
quantizer and ends in a TensorNorm (``((a - mean) / std) * w + b``, no exact affine).
"""

from __future__ import annotations

import configparser
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

bnn_pynq = pytest.importorskip("brevitas_examples.bnn_pynq")

from hw_bnn.compile.lower import lower_to_ir  # noqa: E402
from hw_bnn.compile.pipeline import compile_model, load_onnx  # noqa: E402
from hw_bnn.compile.qonnx_run import run_qonnx  # noqa: E402
from hw_bnn.errors import CompileError  # noqa: E402
from hw_bnn.ir import IntegerNetwork  # noqa: E402

CFG_DIR = Path(bnn_pynq.__file__).parent / "cfg"
MLPS = sorted(p.stem.upper() for p in CFG_DIR.glob("*fc_*.ini"))  # TFC_1W1A, ..., LFC_1W2A
CNVS = sorted(p.stem.upper() for p in CFG_DIR.glob("cnv_*.ini"))
SHAPE = (1, 1, 28, 28)
CNV_SHAPE = (1, 3, 32, 32)


def _cfg(name: str) -> dict:
    c = configparser.ConfigParser()
    c.read(CFG_DIR / f"{name.lower()}.ini")
    return {
        "w": c.getint("QUANT", "WEIGHT_BIT_WIDTH"),
        "a": c.getint("QUANT", "ACT_BIT_WIDTH"),
        "in": c.getint("QUANT", "IN_BIT_WIDTH"),
        "hidden": [int(v) for v in c.get("MODEL", "OUT_FEATURES").strip("[] ").split(",")],
        "classes": c.getint("MODEL", "NUM_CLASSES"),
    }


def randomise_norms(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random running statistics, gammas and betas of every BatchNorm and TensorNorm; the first
    three channels of a layer get gamma 0, 1e-7 and -1e-7."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "running_mean") and hasattr(m, "weight"):
                n = m.running_mean.numel()
                m.running_mean.copy_(torch.randn(n, generator=g) * 4)
                m.running_var.copy_(torch.rand(n, generator=g) * 16 + 0.1)
                w = torch.randn(n, generator=g)
                if n >= 4:
                    w[:3] = torch.tensor([0.0, 1e-7, -1e-7])
                m.weight.copy_(w)
                m.bias.copy_(torch.randn(n, generator=g))
    return model.eval()


def _export(model, path: Path, shape=SHAPE) -> Path:
    from brevitas.export import export_qonnx

    export_qonnx(model, torch.zeros(shape), export_path=str(path), dynamo=False)
    return path


def _images(n: int, shape=SHAPE, seed: int = 0) -> np.ndarray:
    """8-bit pixels, half of them 0 (the bnn_pynq input quantizer splits 0 from the rest)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(n, *shape[1:])) * (rng.random((n, *shape[1:])) < 0.5)).astype(np.float32)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """name -> (exported path, integer graph, IR), built once per module."""
    from brevitas_examples.bnn_pynq.models import model_with_cfg

    cache = {}

    def get(name: str):
        if name not in cache:
            torch.manual_seed(0)
            model, _ = model_with_cfg(name, pretrained=False)
            shape = CNV_SHAPE if name in CNVS else SHAPE
            path = _export(randomise_norms(model), tmp_path_factory.mktemp(name) / f"{name}.onnx", shape)
            integer = compile_model(load_onnx(path))
            cache[name] = (path, integer, lower_to_ir(integer))
        return cache[name]

    return get


def test_every_shipped_mlp_is_listed():
    assert {"TFC_1W1A", "TFC_1W2A", "TFC_2W2A", "SFC_1W1A", "SFC_1W2A", "SFC_2W2A", "LFC_1W1A"} <= set(MLPS)


@pytest.mark.parametrize("name", MLPS)
def test_mlp_equals_its_qonnx_export(compiled, name):
    from hw_bnn.flow.stages import check_integer_graph

    path, integer, golden = compiled(name)
    x = _images(24)
    y_ref = run_qonnx(load_onnx(path), x)
    acc = golden.run(x)
    y = golden.apply_output_affine(acc)
    assert len(np.unique(y_ref, axis=0)) > 1  # the outputs depend on the image
    assert int(np.any(y != y_ref, axis=1).sum()) == 0  # values, bit for bit
    assert np.array_equal(y.argmax(1), y_ref.argmax(1))
    assert np.array_equal(run_qonnx(integer, x), acc)  # integer.onnx equals the golden model
    # the compile stage's own check counts the same
    res = check_integer_graph(path, integer, golden, {"t": SimpleNamespace(x=x, y=y_ref.argmax(1))})["t"]
    assert (res["value_mismatches"], res["golden_vs_integer_mismatches"], res["decision_mismatches"]) == (0, 0, 0)


@pytest.mark.parametrize("name", MLPS)
def test_mlp_layer_kinds(compiled, name):
    cfg = _cfg(name)
    _, _, golden = compiled(name)
    dense = "xnor_dense" if cfg["w"] == 1 and cfg["a"] == 1 and cfg["in"] == 1 else "int_dense"
    n_dense = len(cfg["hidden"]) + 1
    assert [layer.kind for layer in golden.layers] == ["threshold", "flatten"] + [dense] * n_dense
    levels = [1 if b == 1 else 2**b - 2 for b in [cfg["in"]] + [cfg["a"]] * len(cfg["hidden"])]
    widths = [784] + cfg["hidden"] + [cfg["classes"]]
    assert golden.layers[0].levels == levels[0]
    for i, layer in enumerate(golden.layers[2:]):
        assert layer.weights.shape == (widths[i], widths[i + 1])
        if i < len(cfg["hidden"]):
            assert layer.levels == levels[i + 1]
        if dense == "int_dense":
            assert layer.in_levels == levels[i]
            w_max = 1 if cfg["w"] == 1 else 2 ** (cfg["w"] - 1) - 1  # narrow-range signed weights
            assert set(np.unique(layer.weights)) <= set(range(-w_max, w_max + 1)) - ({0} if cfg["w"] == 1 else set())
    assert golden.layers[-1].thresholds is None  # the last layer emits its accumulator


def test_output_steps_survive_golden_npz_and_the_host(compiled, tmp_path):
    """TensorNorm has no exact affine: the output is the exported chain's float32 steps, the
    same after golden.npz and in the deploy folder's host code."""
    from hw_bnn.deploy.hwbnn_io import output_scores
    from hw_bnn.deploy.shapes import _affine

    path, _, golden = compiled("TFC_1W1A")
    assert golden.output_steps is not None and golden.output_scale is None
    golden.save(tmp_path / "golden.npz")
    loaded = IntegerNetwork.load(tmp_path / "golden.npz")
    x = _images(8, seed=1)
    acc = golden.run(x)
    y_ref = run_qonnx(load_onnx(path), x)
    assert np.array_equal(loaded.apply_output_affine(acc), y_ref)
    assert np.array_equal(output_scores(acc, {"output_affine": _affine(loaded)}), y_ref)


@pytest.mark.parametrize("name", CNVS)
def test_cnv_equals_its_qonnx_export(compiled, name):
    """CNV (six convolutions, two max pools, three dense layers, a TensorNorm) on a few images."""
    path, integer, golden = compiled(name)
    x = _images(4, CNV_SHAPE)
    y_ref = run_qonnx(load_onnx(path), x)
    acc = golden.run(x)
    assert len(np.unique(y_ref, axis=0)) > 1
    assert int(np.any(golden.apply_output_affine(acc) != y_ref, axis=1).sum()) == 0
    assert np.array_equal(run_qonnx(integer, x), acc)
    kinds = [layer.kind for layer in golden.layers]
    assert kinds.count("conv") == 6 and kinds.count("maxpool") == 2 and kinds[-3:] == [golden.layers[-1].kind] * 3


class _NormFirst(torch.nn.Module):
    """Flatten, then a per-pixel BatchNorm, then the input quantizer: the flatten cannot move."""

    def __init__(self):
        from brevitas.nn import QuantIdentity, QuantLinear
        from brevitas_examples.bnn_pynq.models.common import CommonActQuant, CommonWeightQuant

        super().__init__()
        self.bn = torch.nn.BatchNorm1d(16)
        self.q = QuantIdentity(act_quant=CommonActQuant, bit_width=1)
        self.fc = QuantLinear(16, 4, bias=False, weight_quant=CommonWeightQuant, weight_bit_width=1)

    def forward(self, x):
        return self.fc(self.q(self.bn(x.view(x.shape[0], -1))))


def test_a_flatten_before_a_per_channel_norm_is_refused_naming_it(tmp_path):
    torch.manual_seed(0)
    path = _export(randomise_norms(_NormFirst()), tmp_path / "norm_first.onnx", shape=(1, 1, 4, 4))
    with pytest.raises(CompileError, match=r"\(BipolarQuant\).*\(Reshape \S+ must come after the activation quantizer"):
        compile_model(load_onnx(path))


@pytest.mark.parametrize(
    "name, domain",
    [
        ("TFC_1W1A", "unit"),
        ("SFC_2W2A", "unit:mean=0.1307:std=0.3081"),
        ("CNV_1W2A", "unit:mean=0.49,0.48,0.45:std=0.25,0.24,0.26"),
    ],
)
def test_a_model_of_unit_inputs_equals_its_export_on_the_pixels(compiled, tmp_path, name, domain):
    """bnn_pynq models expect ToTensor()-style inputs x = p / 255 (then 2x - 1 in the graph): the
    integer graph on the pixels p equals the export on x, per-channel Normalize included."""
    from hw_bnn.compile.input_domain import InputDomain, domain_of

    path, _, _ = compiled(name)
    dom = InputDomain.parse(domain)
    integer = compile_model(load_onnx(path), domain=dom)
    golden = lower_to_ir(integer)
    shape = CNV_SHAPE if name in CNVS else SHAPE
    x = np.random.default_rng(1).integers(0, 256, size=(4 if name in CNVS else 32, *shape[1:])).astype(np.float32)
    y_ref = run_qonnx(load_onnx(path), dom.to_model(x))
    acc = golden.run(x)
    assert len(np.unique(y_ref, axis=0)) > 1
    assert int(np.any(golden.apply_output_affine(acc) != y_ref, axis=1).sum()) == 0
    assert np.array_equal(run_qonnx(integer, x), acc)
    assert domain_of(integer) == dom
    # on the pixels as if they were the model's input, the same graph is not the export
    as_pixels = lower_to_ir(compile_model(load_onnx(path)))
    assert np.any(as_pixels.apply_output_affine(as_pixels.run(x)) != y_ref)
