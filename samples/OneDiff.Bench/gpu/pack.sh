#!/usr/bin/env bash
# Prepares the GPU issue's check for the lent GPU machine (run here, from anywhere in the repo).
# Packs the benchmark, the modeling tests (HfParity on CUDA) and the quickstart into .gpu/app with
# ../shared/gpu/pack.sh, and copies the PyTorch reference script beside them, so that one device
# call measures both programs on the same card:
#   device tool: command "bash samples/OneDiff.Bench/gpu/check.sh", carry [".gpu"], kind nvidia-h200
set -euo pipefail
root="$(git rev-parse --show-toplevel)"
cd "$root"
shared="${ONEDIFF_SHARED:-$root/../shared}"
pack="$shared/gpu/pack.sh"
[ -x "$pack" ] || { echo "pack.sh: $pack not found (the project's shared folder)" >&2; exit 1; }
staging="$(mktemp -d)"
mkdir -p "$staging/app"
trap 'rm -rf "$staging"' EXIT
for proj in tests/OneDiff.Modeling.Tests/OneDiff.Modeling.Tests.csproj samples/OneDiff.Quickstart/OneDiff.Quickstart.csproj samples/OneDiff.Bench/OneDiff.Bench.csproj; do
  "$pack" "$proj" > "$staging/pack.log" 2>&1 || { cat "$staging/pack.log" >&2; exit 1; }
  # Each publish replaces .gpu/app: gather them (they share every dependency's version).
  cp -r .gpu/app/. "$staging/app/"
done
rm -rf .gpu/app && mv "$staging/app" .gpu/app
mkdir -p .gpu/reference
cp "$shared/gpu/reference/onediff_pytorch_reference.py" .gpu/reference/
du -sh .gpu
echo "packed: device command 'bash samples/OneDiff.Bench/gpu/check.sh', carry [\".gpu\"], kind nvidia-h200"
