"""The sweep spec's schema: each bad key is a SpecError naming the file and the key path."""

import re

import pytest
import yaml

from hw_bnn.errors import SpecError
from hw_bnn.explore.spec import SPEC_KEYS, TARGET_KEYS, load_spec

BASE = {"recipes": ["tfc-w1a1"], "targets": {"cycles": [64]}, "devices": ["xc7z020"]}


def _write(tmp_path, **changes):
    p = tmp_path / "sweep.yaml"
    p.write_text(yaml.safe_dump({**BASE, **changes}, sort_keys=False))
    return p


@pytest.mark.parametrize(
    "change, message",
    [
        ({"widht": [32]}, "widht: unknown key (did you mean widths?)"),
        ({"epochs": "ten"}, "epochs: Input should be a valid integer (got 'ten')"),
        ({"epochs": True}, "epochs: Input should be a valid integer (got True)"),
        ({"widths": [32, "64"]}, "widths[1]: expected an int >= 1"),
        ({"widths": [32, 0]}, "widths[1]: expected an int >= 1 (every hidden layer) or a list of ints >= 1"),
        ({"utilization_limit": 1.5}, "utilization_limit: Input should be less than or equal to 1 (got 1.5)"),
        ({"csim_limit": -1}, "csim_limit: Input should be greater than or equal to 0 (got -1)"),
        ({"bits": ["w1a1", "w3a2"]}, "bits[1]: expected 'w<W>a<A>' with W, A in 1, 2 (got 'w3a2')"),
        ({"devices": ["pynq-z2", "virtex-9"]}, "devices[1]: unknown device 'virtex-9'; known devices: xc7z020"),
        ({"targets": {"cycels": 64}}, "targets.cycels: unknown key (did you mean cycles?)"),
        ({"targets": {"clock_mhz": 100}}, "targets: expected 'cycles' and/or 'fps', got neither"),
        ({"targets": {"fps": [1e6, 0]}}, "targets.fps[1]: Input should be greater than 0 (got 0)"),
    ],
)
def test_a_bad_key_names_the_file_and_the_key(tmp_path, change, message):
    p = _write(tmp_path, **change)
    with pytest.raises(SpecError, match="^" + re.escape(f"{p}: {message}")):
        load_spec(p)


def test_missing_keys_and_a_non_mapping(tmp_path):
    p = tmp_path / "sweep.yaml"
    p.write_text("recipes: [tfc-w1a1]\n")
    with pytest.raises(SpecError, match=re.escape(f"{p}: targets: required key is missing; devices: required")):
        load_spec(p)
    p.write_text("[tfc-w1a1]\n")
    with pytest.raises(SpecError, match=re.escape(f"{p}: expected a mapping of keys, got list")):
        load_spec(p)


def test_an_axis_takes_one_value_or_a_list(tmp_path):
    one = load_spec(_write(tmp_path, bits=" W1A2", widths=32, depths=2, targets={"cycles": 64}, devices="pynq-z2"))
    many = load_spec(
        {**BASE, "bits": ["w1a2", "w1a2"], "widths": [32], "depths": [2, 2], "devices": ["xc7z020", "pynq-z2"]}
    )
    assert (one.bits, one.widths, one.depths, one.devices) == (["w1a2"], [32], [2], ["xc7z020"])
    assert [p["id"] for p in one.points()] == [p["id"] for p in many.points()] == ["tfc-w1a2-h32x32"]


def test_the_key_lists_follow_the_schema():
    assert list(SPEC_KEYS)[:4] == ["name", "description", "recipes", "bits"] and all(SPEC_KEYS.values())
    assert TARGET_KEYS == ("cycles", "fps", "clock_mhz")
