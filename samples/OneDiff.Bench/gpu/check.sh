#!/usr/bin/env bash
# The GPU issue's check, run on the lent GPU machine after gpu/pack.sh here (docs/gpu.md). One
# call of at most 9 1/2 minutes: the PyTorch reference and our benchmark on the same card (ours
# also with the other kernel forms, --compare-kernels), the HfParity tests on CUDA (every fixture
# in fp32 and in bf16), our SFT step with activation checkpointing, the Tiny quickstart on CUDA,
# and the reference's prefill alone. Each part has its own time limit and log under $OUT (the
# device tool returns at most 8 files: summary.txt, six logs, quickstart.json), and nvidia-smi's
# peak of used memory while it ran: the same measure for both programs (the reference prints
# PyTorch's allocated peak, which TorchSharp cannot read). A summary ends stdout.
# Arguments name a subset of the parts instead (reference_generate, ours_generate, lora, ddp and
# ddp_loop exist only for that): e.g. `check.sh reference_generate ours_generate parity lora`, about
# 2 1/2 minutes; `check.sh ddp ddp_loop` for data-parallel training (docs/distributed.md).
set -uo pipefail
out="${OUT:-/tmp/onediff-gpu-check}"
mkdir -p "$out"
cd "$(dirname "$0")/../../.."
[ -f .gpu/on-device.sh ] || { echo "check.sh: run from the repository root after samples/OneDiff.Bench/gpu/pack.sh" >&2; exit 1; }
[ -d .gpu/app ] || tar -xJf .gpu/app.tar.xz -C .gpu
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/summary.txt"
# The reference's SFT step peaks at 99.8 GiB: on a smaller card both programs run 16 LLM layers.
mem_mib="$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -1)"
layers=32; [ "${mem_mib:-0}" -lt 120000 ] && layers=16
echo "llm layers: $layers" | tee -a "$out/summary.txt"
smi="$(mktemp -d)"
failed=0

part() { # name seconds command...
  local name="$1" limit="$2"; shift 2
  local start=$SECONDS
  # nvidia-smi's used memory, sampled while the part runs; its largest value in $smi/$name.
  ( peak=0; while :; do
      m="$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 2>/dev/null | head -1)"
      [ "${m:-0}" -gt "$peak" ] 2>/dev/null && peak="$m" && echo "$peak" > "$smi/$name"
      sleep 0.05
    done ) &
  local sampler=$!
  PYTHONUNBUFFERED=1 timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  echo "$name: exit $rc in $((SECONDS - start)) s, nvidia-smi peak $(cat "$smi/$name" 2>/dev/null || echo '?') MiB" | tee -a "$out/summary.txt"
  [ "$rc" -eq 0 ] || failed=1
  return $rc
}

# The parts to run: all of them (the whole check), or those named as arguments, e.g.
# `check.sh reference_generate ours_generate parity lora` (about 2 1/2 minutes). `named` parts run
# only when named: the whole check measures the same in its reference and ours parts.
selected="$*"
want() { [ -z "$selected" ] || [[ " $selected " == *" $1 "* ]]; }
named() { [[ " $selected " == *" $1 "* ]]; }

if want reference; then part reference 150 python3 .gpu/reference/onediff_pytorch_reference.py --layers "$layers"; fi
if named reference_generate; then part reference_generate 60 python3 .gpu/reference/onediff_pytorch_reference.py --layers "$layers" --skip-sft; fi
if want ours; then
  part ours 170 bash .gpu/on-device.sh OneDiff.Bench.dll model --preset Vicuna7B --layers "$layers" --compare-kernels
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && ! grep -q '"what":"generate".*"pass":"defaults"' "$out/ours.log"; then
    # A failure before the defaults were measured that is not a timeout (a fused form the card's
    # libtorch rejects, say): the same measurement with the element-wise, separate and layer-by-
    # layer forms, its log appended to ours.log. (A failure in the comparison pass keeps the
    # defaults' lines.)
    part ours_fallback 120 bash .gpu/on-device.sh OneDiff.Bench.dll model --preset Vicuna7B --layers "$layers" --rms-norm elementwise --projections separate --decoding layers
    { echo "== ours_fallback"; cat "$out/ours_fallback.log"; } >> "$out/ours.log"; rm -f "$out/ours_fallback.log"
  fi
fi
if named ours_generate; then part ours_generate 110 bash .gpu/on-device.sh OneDiff.Bench.dll model --preset Vicuna7B --layers "$layers" --skip-sft --compare-kernels; fi
if want parity; then part parity 45 env ONEDIFF_TEST_DEVICE=cuda bash .gpu/on-device.sh OneDiff.Modeling.Tests.dll -trait Category=HfParity; fi
if want checkpointing; then part checkpointing 70 bash .gpu/on-device.sh OneDiff.Bench.dll model --preset Vicuna7B --layers "$layers" --checkpointing --skip-generate; fi
# The one-GPU LoRA recipe's step (rank 128, checkpointing): its peak memory. Not in the whole check
# (no room in one call); name it.
if named lora; then part lora 90 bash .gpu/on-device.sh OneDiff.Bench.dll model --preset Vicuna7B --layers "$layers" --lora 128 --checkpointing --skip-generate; fi
# Data-parallel training (not in the whole check; name them, about 3 1/2 minutes with both):
# ddp, the 7B stage-II step (pure-bf16 optimizer, batch 8) with the machinery of one rank on NCCL
# and without it, taken in turn (the goal: within 3 %); ddp_loop, the trainer's own loop as one
# rank on NCCL (a Tiny-shaped model with a wider LLM), its collectives' engine in the line.
if named ddp; then part ddp 170 bash .gpu/on-device.sh OneDiff.Bench.dll model --preset Vicuna7B --layers "$layers" --data-parallel --skip-generate; fi
if named ddp_loop; then part ddp_loop 60 bash .gpu/on-device.sh OneDiff.Bench.dll ddp-step --device cuda --data-parallel --hidden 2048 --layers 8 --batch 8 --steps 8; fi
if want quickstart; then part quickstart 90 bash .gpu/on-device.sh OneDiff.Quickstart.dll --metrics-out "$out/quickstart.json"; fi
# The reference's prefill alone (one new token), to split its generation time as ours is split.
if want reference_prefill; then part reference_prefill 50 python3 .gpu/reference/onediff_pytorch_reference.py --layers "$layers" --skip-sft --new-tokens 1; fi

echo "== summary"
cat "$out/summary.txt"
for f in reference reference_generate ours ours_generate checkpointing lora ddp ddp_loop reference_prefill; do grep -h '"what"' "$out/$f.log" 2>/dev/null; done
grep -hE "Total:|\[FAIL\]" "$out/parity.log" 2>/dev/null | tail -3
grep -hiE "cider|held-out" "$out/quickstart.log" 2>/dev/null | tail -3
# The exit status: 1 where any part failed (each part's own status is in the summary).
exit "$failed"
