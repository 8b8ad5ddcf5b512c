"""hw-bnn zoo: parameters, MACs and weight memory per network, checked against hand counts."""

import dataclasses
import json

from hw_bnn.cli import main
from hw_bnn.train.recipes import available_models, load_recipe
from hw_bnn.train.zoo import summarize, zoo


def test_mlp_counts():
    r = summarize(load_recipe("tfc-w1a1"))
    w = 784 * 64 + 64 * 64 * 2 + 64 * 10
    assert r["weights"] == w and r["weight_memory_bits"] == w
    assert r["binary_macs"] == w and r["integer_macs"] == 0  # the input is binarized: all layers XNOR
    assert [layer["shape"] for layer in r["layers"]] == [[64, 784], [64, 64], [64, 64], [10, 64]]
    # 3 BatchNorms (weight, bias, running mean, running var) of 64 + the scalar output norm (4)
    assert r["folded_float_parameters"] == 3 * 4 * 64 + 4
    assert r["recorded"]["accuracy"] > 0.8


def test_cnn_counts_split_binary_and_integer_macs():
    # conv [out, k, stride, pad] on 28x28: 14x14 (s2) -> 14x14 -> pool 7 -> 7x7 -> 5x5 -> pool 2 -> 2x2 -> 2x2
    convs = [
        (64, 1, 3, 14 * 14),
        (64, 64, 3, 14 * 14),
        (128, 64, 3, 49),
        (128, 128, 3, 25),
        (256, 128, 3, 4),
        (256, 256, 1, 4),
    ]
    conv_macs = [o * i * k * k * p for o, i, k, p in convs]
    fc_macs = [1024 * 256, 256 * 10]
    w11, w22 = summarize(load_recipe("cnv-w1a1")), summarize(load_recipe("cnv-w2a2"))
    assert w11["integer_macs"] == conv_macs[0]  # 8-bit pixels x binary weights
    assert w11["binary_macs"] == sum(conv_macs[1:]) + sum(fc_macs)
    assert w22["binary_macs"] == 0 and w22["integer_macs"] == sum(conv_macs) + sum(fc_macs)
    weights = sum(o * i * k * k for o, i, k, _ in convs) + 1024 * 256 + 256 * 10
    assert w11["weights"] == w22["weights"] == weights
    assert w22["weight_memory_bits"] == 2 * weights and w11["weight_memory_bits"] == weights
    w8 = summarize(dataclasses.replace(load_recipe("cnv-w1a1"), first_weight_bits=8))
    assert w8["integer_macs"] == w11["integer_macs"] and w8["binary_macs"] == w11["binary_macs"]
    assert w8["weight_memory_bits"] == weights + 7 * 64 * 9  # the first layer's 576 weights at 8 bits


def test_zoo_lists_every_recipe_and_the_cli_prints_it(capsys):
    assert [r["name"] for r in zoo()] == available_models()
    assert main(["zoo", "tfc-w1a1", "cnv-w1a1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["tfc-w1a1", "cnv-w1a1"]
    assert main(["zoo", "--layers", "tcnv-digits-w1a1"]) == 0
    out = capsys.readouterr().out
    assert "tcnv-digits-w1a1" in out and "conv1" in out and "(int w1a8)" in out and "binary MACs" in out
    assert main(["zoo", "no-such-net"]) == 2
    assert "unknown model 'no-such-net'" in capsys.readouterr().err


def test_the_experiments_recipes_load_and_cost_what_the_docs_say():
    """benchmarks/recipes: the ablation is ftbnn-mnist less its non-linearity (same cost), and the
    wide ReActNets cost less than cnv-w1a1 in binary MACs (docs/experiments.md)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "benchmarks" / "recipes"
    recipes = {p.stem: load_recipe(str(p)) for p in sorted(folder.glob("*.yaml"))}
    cost = {name: summarize(r) for name, r in recipes.items()}
    wides = (
        "reactnet-wide-mnist",
        "reactnet-wide-adambnn-mnist",
        "reactnet-wide-adambnn-kd05-mnist",
        "reactnet-wide-stem8-mnist",
    )
    assert set(cost) == {"resnet-none-mnist", *wides}
    ftbnn, cnv = summarize(load_recipe("ftbnn-mnist")), summarize(load_recipe("cnv-w1a1"))
    assert cost["resnet-none-mnist"]["binary_macs"] == ftbnn["binary_macs"] == 4_983_104
    assert recipes["resnet-none-mnist"].nonlin == "none"
    for wide in wides:
        assert cost[wide]["binary_macs"] == 14_306_040 < cnv["binary_macs"]
    stem8, one_bit = cost["reactnet-wide-stem8-mnist"], cost["reactnet-wide-mnist"]
    assert stem8["weight_memory_bits"] - one_bit["weight_memory_bits"] == 7 * 36 * 9  # 8-bit stem
