#!/usr/bin/env bash
# The GPU issue's check, run on the lent GPU machine after gpu/pack.sh here (docs/gpu.md). One
# call of at most 9 1/2 minutes: the PyTorch reference and our benchmark on the same card, the
# HfParity tests on CUDA (every fixture in fp32 and in bf16), our SFT step with activation
# checkpointing, the Tiny quickstart on CUDA, and the reference's prefill alone. Each part has its
# own time limit and log under $OUT; a summary ends stdout.
set -uo pipefail
out="${OUT:-/tmp/onediff-gpu-check}"
mkdir -p "$out"
cd "$(dirname "$0")/../../.."
[ -f .gpu/on-device.sh ] || { echo "check.sh: run from the repository root after samples/OneDiff.Bench/gpu/pack.sh" >&2; exit 1; }
[ -d .gpu/app ] || tar -xJf .gpu/app.tar.xz -C .gpu
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
# The reference's SFT step peaks at 99.8 GiB: on a smaller card both programs run 16 LLM layers.
mem_mib="$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)"
layers=32; [ "${mem_mib:-0}" -lt 120000 ] && layers=16
echo "llm layers: $layers" | tee -a "$out/gpu.txt"

part() { # name seconds command...
  local name="$1" limit="$2"; shift 2
  local start=$SECONDS
  PYTHONUNBUFFERED=1 timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc in $((SECONDS - start)) s" | tee -a "$out/summary.txt"
}

part reference 150 python3 .gpu/reference/onediff_pytorch_reference.py --layers "$layers"
part ours 150 bash .gpu/on-device.sh OneDiff.Bench.dll model --preset Vicuna7B --layers "$layers"
part parity 45 env ONEDIFF_TEST_DEVICE=cuda bash .gpu/on-device.sh OneDiff.Modeling.Tests.dll -trait Category=HfParity
part checkpointing 70 bash .gpu/on-device.sh OneDiff.Bench.dll model --preset Vicuna7B --layers "$layers" --checkpointing --skip-generate
part quickstart 100 bash .gpu/on-device.sh OneDiff.Quickstart.dll --metrics-out "$out/quickstart.json"
# The reference's prefill alone (one new token), to split its generation time as ours is split.
part reference_prefill 60 python3 .gpu/reference/onediff_pytorch_reference.py --layers "$layers" --skip-sft --new-tokens 1

echo "== summary"
cat "$out/summary.txt"
grep -h '"what"' "$out/reference.log" "$out/ours.log" "$out/checkpointing.log" "$out/reference_prefill.log" 2>/dev/null
grep -hE "Total:|\[FAIL\]" "$out/parity.log" 2>/dev/null | tail -3
grep -hiE "cider|held-out" "$out/quickstart.log" 2>/dev/null | tail -3
