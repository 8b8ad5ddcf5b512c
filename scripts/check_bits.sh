#!/usr/bin/env bash
# Rebuild the reference networks and compare their artifacts with a saved hash set:
#   scripts/check_bits.sh save FILE.json   (before a refactor)
#   scripts/check_bits.sh check FILE.json  (after it; exits 1 if a bit changed)
# tcnv-digits-w1a1 and tfc-w1a1 as the flow builds them, reactnet-mnist (fixed-point
# shortcuts) and densenet-mnist (concatenations) trained for one epoch.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: check_bits.sh save|check FILE.json}
ref=${2:?usage: check_bits.sh save|check FILE.json}
out=$(mktemp -d "${TMPDIR:-/tmp}/hw-bnn-bits.XXXXXX")
hw=${HW_BNN:-.venv/bin/hw-bnn}
py=${PYTHON:-.venv/bin/python}
$hw flow --model tcnv-digits-w1a1 --out "$out/tcnv" >"$out/tcnv.log"
$hw flow --model tfc-w1a1 --out "$out/tfc" >"$out/tfc.log"
$hw flow --model reactnet-mnist --out "$out/reactnet" --epochs 1 >"$out/reactnet.log"
$hw flow --model densenet-mnist --out "$out/densenet" --epochs 1 >"$out/densenet.log"
tail -qn1 "$out"/*.log
builds=("$out/tcnv" "$out/tfc" "$out/reactnet" "$out/densenet")
if [ "$mode" = save ]; then
  $py scripts/hash_build.py "${builds[@]}" >"$ref"
  echo "saved $ref"
else
  $py scripts/hash_build.py --compare "$ref" "${builds[@]}"
fi
rm -rf "$out"
