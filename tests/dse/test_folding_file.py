"""``folding.json``'s schema: PE / SIMD ints >= 1 per layer; errors name the file and ``layer.key``."""

import json
import re

import pytest

from hw_bnn.dse.folding_file import check_folding, load_folding
from hw_bnn.errors import FoldingError


def _file(tmp_path, doc) -> str:
    p = tmp_path / "folding.json"
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(p)


@pytest.mark.parametrize(
    "layer, message",
    [
        ({"PE": 2, "SMID": 4}, "fc1.SMID: unknown key (did you mean SIMD?)"),
        ({"PE": 0}, "fc1.PE: expected an int >= 1 (got 0)"),
        ({"PE": True}, "fc1.PE: Input should be a valid integer (got True)"),
        ({"PE": "4"}, "fc1.PE: Input should be a valid integer (got '4')"),
        ({"SIMD": 2.0}, "fc1.SIMD: Input should be a valid integer (got 2.0)"),
        (4, 'fc1: expected {"PE": int, "SIMD": int} (got 4)'),
    ],
)
def test_a_bad_layer_names_the_file_and_the_key(tmp_path, layer, message):
    p = _file(tmp_path, {"fc0": {"PE": 1}, "fc1": layer})
    with pytest.raises(FoldingError, match="^" + re.escape(f"{p}: {message}")):
        load_folding(p)


def test_not_json_and_missing_file(tmp_path):
    p = _file(tmp_path, '{"fc0": {"PE": 1}')
    with pytest.raises(FoldingError, match=re.escape(f"{p}: not valid JSON")):
        load_folding(p)
    with pytest.raises(FoldingError, match="missing.json: folding file does not exist"):
        load_folding(tmp_path / "missing.json")
    with pytest.raises(FoldingError, match=re.escape(f"{p}: expected ") + ".*got list"):
        load_folding(_file(tmp_path, [{"PE": 1}]))


def test_the_fold_document_and_a_bare_mapping_give_the_same_folding(tmp_path):
    folding = {"fc0": {"PE": 16, "SIMD": 49}, "fc1": {"SIMD": 4}, "fc2": {}}
    doc = load_folding(_file(tmp_path, {"source": "recipe x", "folding": folding, "cost": {"lut": 1}}))
    assert doc == folding == load_folding(_file(tmp_path, folding))
    with pytest.raises(FoldingError, match=r"folding.json: fc0.PE: expected an int >= 1"):
        load_folding(_file(tmp_path, {"source": "x", "folding": {"fc0": {"PE": -1}}}))


def test_check_folding_on_a_dict():
    folding = {"fc0": {"PE": 4, "SIMD": 8}, "conv 1": {"PE": 2}}
    out = check_folding(folding, "folding=")
    assert out == folding and out is not folding and list(out) == ["fc0", "conv 1"]
    assert all(type(v) is int for layer in out.values() for v in layer.values())
    with pytest.raises(
        FoldingError, match=r"^folding=: fc0.PEs: unknown key \(did you mean PE\?\); fc1.SIMD: expected"
    ):
        check_folding({"fc0": {"PEs": 4}, "fc1": {"SIMD": 0}}, "folding=")
    with pytest.raises(FoldingError, match=r"^folding=: '': expected a layer name"):
        check_folding({"": {"PE": 1}}, "folding=")
    with pytest.raises(FoldingError, match=r"^folding=: expected .* got list"):
        check_folding([("fc0", {"PE": 1})], "folding=")
