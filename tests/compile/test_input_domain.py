"""The input domain: parsing, spelling, the float32 steps, and the errors that name the domain."""

import numpy as np
import pytest

from hw_bnn.compile.input_domain import InputDomain
from hw_bnn.errors import CompileError, OptionError


@pytest.mark.parametrize(
    "text, formula",
    [
        ("pixels", "x = p, p = 0..255"),
        ("unit", "x = p / 255, p = 0..255"),
        ("divisor=2", "x = p / 2, p = 0..255"),
        ("unit:mean=0.5", "x = (p / 255 - 0.5), p = 0..255"),
        ("unit:mean=0.1,0.2,0.3:std=0.5,0.25,2", "x = (p / 255 - [0.1, 0.2, 0.3]) / [0.5, 0.25, 2], p = 0..255"),
    ],
)
def test_spelling_round_trips(text, formula):
    d = InputDomain.parse(text)
    assert InputDomain.parse(d.spelling()) == d
    assert d.formula() == formula


def test_the_steps_are_torchvisions_in_float32():
    p = np.arange(256, dtype=np.float32).reshape(1, 1, 16, 16).repeat(3, axis=1)
    d = InputDomain.parse("unit:mean=0.485,0.456,0.406:std=0.229,0.224,0.225")
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    want = (p / np.float32(255) - mean) / std  # ToTensor's div(255), then Normalize's sub and div
    assert d.to_model(p).dtype == np.float32 and np.array_equal(d.to_model(p), want)
    assert np.array_equal(InputDomain().to_model(p), p)


@pytest.mark.parametrize(
    "text, match",
    [
        ("float", r"input domain 'float': expected 'pixels', 'unit' or 'divisor=D'"),
        ("unit:scale=2", r"unknown option 'scale=2'"),
        ("unit:std=0", r"every std must be non-zero"),
        ("divisor=x", r"'divisor=x' must give numbers"),
        ("divisor=-3", r"the divisor positive"),
    ],
)
def test_bad_domains_are_named(text, match):
    with pytest.raises(CompileError, match=match):
        InputDomain.parse(text)


def test_the_flow_option_is_checked(tmp_path):
    from hw_bnn import flow
    from hw_bnn.flow.config import FlowConfig

    assert FlowConfig(input_domain="unit:mean=0.5").domain() == InputDomain.parse("unit:mean=0.5")
    with pytest.raises(OptionError, match=r"input_domain: input domain 'unit:mean=': 'mean=' must give numbers"):
        flow.compile(out=tmp_path / "b", onnx=tmp_path / "m.onnx", input_domain="unit:mean=")
    assert not (tmp_path / "b").exists()
