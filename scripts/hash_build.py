"""Hash the artifacts of a finished build folder that a refactor must leave bit-identical.

    python scripts/hash_build.py BUILD [BUILD ...] > hashes.json
    python scripts/hash_build.py --compare hashes.json BUILD [BUILD ...]

Builds are keyed by their folder's name, so a build of ``tfc`` anywhere compares with the
``tfc`` of the saved set. ``--compare`` prints every artifact that differs and exits 1 if any.

For each build folder: every tensor of the trained state_dict, the integer ONNX graph (nodes,
initializers, value infos and metadata, serialized deterministically), every array of
``golden.npz`` and every file of the emitted hls4ml project except the few whose content
records where and when they were written. Imports torch, onnx and numpy only, never hw_bnn,
so it reads build folders of any version of the package.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

# files of an hls4ml project that record where/when it was written, not what it holds
VOLATILE = {"hls4ml_config.yml", "build_lib.sh", "hw_bnn_project.json"}
INTEGER_GRAPHS = ("integer.onnx", "folded.onnx")  # the name this artifact has had


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def state_dict_hashes(path: Path) -> dict[str, str]:
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else ckpt
    return {k: _sha(v.detach().contiguous().numpy().tobytes()) for k, v in sorted(state.items()) if hasattr(v, "numpy")}


def graph_hashes(path: Path) -> dict[str, str]:
    """The graph (nodes, initializers, value infos) with its name field cleared, its metadata,
    and its name on its own (``hw_bnn_folded`` before the integer graph was named
    ``hw_bnn_integer``; the one intended difference)."""
    import onnx

    model = onnx.load(str(path))
    name, model.graph.name = model.graph.name, ""
    return {
        "graph": _sha(model.graph.SerializeToString(deterministic=True)),
        "metadata": _sha(b"\0".join(f"{p.key}={p.value}".encode() for p in model.metadata_props)),
        "name": name,
    }


def npz_hashes(path: Path) -> dict[str, str]:
    import numpy as np

    with np.load(path, allow_pickle=False) as z:
        return {k: _sha(z[k].tobytes() + str(z[k].dtype).encode() + str(z[k].shape).encode()) for k in sorted(z.files)}


def project_hashes(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_file() and p.name not in VOLATILE and p.suffix not in {".so", ".o"} and "__pycache__" not in rel:
            out[rel] = _sha(p.read_bytes())
    return out


def build_hashes(build: Path) -> dict:
    graph = next((build / n for n in INTEGER_GRAPHS if (build / n).is_file()), None)
    return {
        "state_dict": state_dict_hashes(build / "checkpoint.pt"),
        "integer_graph": graph_hashes(graph) if graph else None,
        "golden_npz": npz_hashes(build / "golden.npz"),
        "hls_project": project_hashes(build / "hls"),
    }


def _flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    flat = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            flat.update(_flatten(v, f"{prefix}{k}/"))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


def compare(reference: dict, builds: list[str]) -> int:
    """Print each artifact of ``builds`` whose hash differs from ``reference``; the count."""
    differ = 0
    for b in builds:
        name = Path(b).name
        if name not in reference:
            print(f"{name}: not in the reference set")
            differ += 1
            continue
        ref, new = _flatten(reference[name]), _flatten(build_hashes(Path(b)))
        renamed = ref.get("integer_graph/name") == "hw_bnn_folded" and new.get("integer_graph/name") == "hw_bnn_integer"
        if renamed:
            print(f"{name}: integer_graph/name: hw_bnn_folded -> hw_bnn_integer (the intended rename)")
            ref["integer_graph/name"] = new["integer_graph/name"]
        bad = sorted(k for k in ref.keys() | new.keys() if ref.get(k) != new.get(k))
        for k in bad:
            print(f"{name}: {k}: {ref.get(k, 'missing')} -> {new.get(k, 'missing')}")
        print(f"{name}: {len(ref)} artifacts, {len(bad)} differ")
        differ += len(bad)
    return differ


def main(argv: list[str]) -> int:
    if not argv or argv[0] == "--compare" and len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "--compare":
        return 1 if compare(json.loads(Path(argv[1]).read_text()), argv[2:]) else 0
    json.dump({Path(b).name: build_hashes(Path(b)) for b in argv}, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
