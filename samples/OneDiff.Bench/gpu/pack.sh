#!/usr/bin/env bash
# Prepares the GPU issue's check for the lent GPU machine (run here, from anywhere in the repo).
# Packs the benchmark, the modeling tests (HfParity on CUDA) and the quickstart into one app folder
# with ../shared/gpu/pack.sh (archived as .gpu/app.tar.xz; check.sh unpacks it there), and copies
# the PyTorch reference script beside them, so that one device call measures both programs on the
# same card:
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
# What the runs do not need (the test SDK's coverage collector alone is 30 MB), then one archive:
# the tree that travels is limited to 64 MiB, the .NET runtime's 26 MB included.
rm -rf "$staging/app/Microsoft.CodeCoverage" "$staging"/app/*.pdb "$staging"/app/*.dbg
find "$staging/app" -mindepth 1 -maxdepth 1 -type d -regex '.*/[a-z][a-z]\(-[A-Za-z]+\)?' -exec rm -rf {} +
rm -rf .gpu/app
tar -C "$staging" -cf - app | xz -T0 -6 > .gpu/app.tar.xz
mkdir -p .gpu/reference
cp "$shared/gpu/reference/onediff_pytorch_reference.py" .gpu/reference/
du -sh .gpu
echo "packed: device command 'bash samples/OneDiff.Bench/gpu/check.sh', carry [\".gpu\"], kind nvidia-h200"
