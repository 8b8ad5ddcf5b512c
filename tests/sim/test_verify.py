"""hw_bnn.sim.verify without a simulator: mismatched images and the first divergent layer."""

from types import SimpleNamespace

import numpy as np

from hw_bnn.sim.verify import first_divergent_layer, mismatched_images

LAYERS = [SimpleNamespace(name=n) for n in ("conv1", "pool1", "fc1")]


def _traces(rng):
    return {
        "conv1": rng.integers(0, 9, (1, 4, 4, 3)),
        "pool1": rng.integers(0, 9, (1, 2, 2, 3)),
        "fc1": rng.integers(-5, 5, (1, 10)),
    }


def test_every_layer_agrees():
    g = _traces(np.random.default_rng(0))
    assert first_divergent_layer(LAYERS, g, {k: v.copy() for k, v in g.items()}) == {"layer": None}


def test_the_first_layer_that_differs_is_named_with_its_element():
    g = _traces(np.random.default_rng(1))
    h = {k: v.copy() for k, v in g.items()}
    h["pool1"][0, 1, 0, 2] += 1  # NHWC element (1, 0, 2) of 2x2x3 -> flat 1*6 + 0*3 + 2 = 8
    h["fc1"][0, 0] += 1  # later layers differ too: the first one is the one to blame
    d = first_divergent_layer(LAYERS, g, h)
    assert d == {
        "layer": "pool1",
        "element": 8,
        "golden": int(g["pool1"][0, 1, 0, 2]),
        "csim": int(h["pool1"][0, 1, 0, 2]),
    }
    assert first_divergent_layer(LAYERS, g, h, sim="rtl")["rtl"] == d["csim"]


def test_a_shape_difference_is_named():
    g = _traces(np.random.default_rng(2))
    h = dict(g, conv1=g["conv1"][:, :2])
    d = first_divergent_layer(LAYERS, g, h)
    assert d == {"layer": "conv1", "element": None, "golden_shape": [48], "csim_shape": [24]}


def test_mismatched_images_of_flat_and_image_outputs():
    g = np.zeros((5, 10), np.int64)
    h = g.copy()
    h[3, 7] = 1
    h[1, 0] = -1
    assert mismatched_images(g, h).tolist() == [1, 3]
    gi = np.zeros((4, 2, 2, 3), np.int64)
    hi = gi.copy()
    hi[2, 1, 1, 0] = 5
    assert mismatched_images(gi, hi).tolist() == [2]
