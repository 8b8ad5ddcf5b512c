"""``hw-bnn zoo``: every network in ``models/`` with its size and cost, in the spirit of Larq's
model summary.

For each recipe the Brevitas network is built (untrained) and run once on a dummy image;
every QuantConv2d / QuantLinear layer reports

* its weights (count, bit width, memory in bits);
* its multiply-accumulates per image, split into **binary MACs** (1-bit weights times 1-bit
  activations: XNOR-popcount in hardware) and **integer MACs** (everything else, e.g. the
  first layer on 8-bit pixels or 2-bit activations);
* the float parameters that the compiler absorbs into thresholds (BatchNorm, output norm) are
  counted apart (``folded_float_parameters``, the key's historical name): they cost no
  multiplier in hardware.

The recorded accuracy comes from the recipe's ``recorded:`` field (a real run's result, with
what it was measured on); the zoo itself trains nothing.
"""

from __future__ import annotations

from hw_bnn.train.data import dataset_image_shape
from hw_bnn.train.recipes import Recipe, available_models, load_recipe, model_input_shape


def summarize(recipe: Recipe) -> dict:
    """Per-layer and total parameters, MACs and weight memory of a recipe's network."""
    import torch
    from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear

    from hw_bnn.train.networks import build_model

    shape = model_input_shape(recipe, dataset_image_shape(recipe.dataset))
    model = build_model(recipe, shape)
    model.eval()
    layers, order = [], []
    quant_layers = [m for m in model.modules() if isinstance(m, (QuantConv2d, QuantLinear))]

    def hook(mod, inputs, output):
        w = mod.weight
        fan_in = int(w[0].numel())
        positions = int(output[0, 0].numel()) if output.dim() == 4 else 1
        layers.append(
            {
                "name": f"{'conv' if isinstance(mod, QuantConv2d) else 'fc'}",
                "shape": list(w.shape),
                "weights": int(w.numel()),
                "macs": int(w.shape[0]) * fan_in * positions,
                "first": mod is quant_layers[0],
                "transition": recipe.arch == "densenet"
                and isinstance(mod, QuantConv2d)
                and tuple(mod.kernel_size) == (1, 1),
            }
        )

    handles = [m.register_forward_hook(hook) for m in quant_layers]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    counts = {"conv": 0, "fc": 0}
    # the first layer's input: binarized pixels (MLPs quantize the input to 1 bit) or 8-bit pixels
    first_in_bits = 1 if recipe.arch == "fc" else recipe.input_bits
    for layer in layers:
        counts[layer["name"]] += 1
        layer["name"] = f"{layer['name']}{counts[layer['name']]}"
        first = layer.pop("first")
        layer["input_bits"] = first_in_bits if first else recipe.act_bits
        layer["weight_bits"] = (recipe.first_weight_bits if first else 0) or recipe.weight_bits
        if layer.pop("transition"):  # BinaryDenseNet's 1x1 transitions: multi-bit weights and codes
            layer["weight_bits"], layer["input_bits"] = recipe.transition_bits, recipe.transition_act_bits
        layer["binary"] = layer["input_bits"] == 1 and layer["weight_bits"] == 1
        layer["weight_memory_bits"] = layer["weights"] * layer["weight_bits"]
        order.append(layer["name"])
    quant_ids = {id(m.weight) for m in quant_layers}
    skip = {id(p) for m in model.modules() if isinstance(m, QuantIdentity) for p in m.parameters()}
    absorbed = sum(int(p.numel()) for p in model.parameters() if id(p) not in quant_ids and id(p) not in skip)
    absorbed += sum(
        int(b.numel()) for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var"))
    )
    return {
        "name": recipe.name,
        "arch": recipe.arch,
        "bits": f"w{recipe.weight_bits}a{recipe.act_bits}",
        "dataset": recipe.dataset,
        "input_shape": list(shape),
        "layers": layers,
        "weights": sum(layer["weights"] for layer in layers),
        "weight_memory_bits": sum(layer["weight_memory_bits"] for layer in layers),
        "binary_macs": sum(layer["macs"] for layer in layers if layer["binary"]),
        "integer_macs": sum(layer["macs"] for layer in layers if not layer["binary"]),
        "folded_float_parameters": absorbed,
        "recorded": dict(recipe.recorded),
    }


def zoo(names: list[str] | None = None) -> list[dict]:
    return [summarize(load_recipe(n)) for n in (names or available_models())]


def _human(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(int(n))


def render(rows: list[dict], layers: bool = False) -> str:
    nw = max([18, *(len(r["name"]) for r in rows)])
    hdr = (
        f"{'network':{nw}s} {'arch':8s} {'bits':5s} {'weights':>8s} {'memory':>10s} {'binary MACs':>11s} "
        f"{'int MACs':>9s} {'absorbed':>8s}  recorded accuracy"
    )
    out = [hdr, "-" * len(hdr)]
    for r in rows:
        rec = r["recorded"]
        acc = f"{rec['accuracy']:.4f} ({rec.get('measured_on', '?')})" if "accuracy" in rec else "-"
        out.append(
            f"{r['name']:{nw}s} {r['arch']:8s} {r['bits']:5s} {_human(r['weights']):>8s} "
            f"{r['weight_memory_bits'] / 8192:>7.1f}KiB {_human(r['binary_macs']):>11s} "
            f"{_human(r['integer_macs']):>9s} {_human(r['folded_float_parameters']):>8s}  {acc}"
        )
        if layers:
            for L in r["layers"]:
                kind = "binary" if L["binary"] else f"int w{L['weight_bits']}a{L['input_bits']}"
                out.append(
                    f"    {L['name']:8s} {tuple(L['shape'])!s:22s} {_human(L['weights']):>8s} weights "
                    f"{_human(L['macs']):>8s} MACs ({kind})"
                )
    out.append("")
    out.append("weights / memory: quantized weights and their bits; binary MACs: 1-bit x 1-bit (XNOR-popcount);")
    out.append("int MACs: the rest (8-bit pixels, 2-bit codes); absorbed: float BatchNorm / output-norm parameters")
    out.append("(absorbed into thresholds, no multipliers). Recorded accuracy: the recipe's `recorded:` field.")
    return "\n".join(out)
