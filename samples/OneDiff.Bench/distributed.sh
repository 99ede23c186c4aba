#!/usr/bin/env bash
# The data-parallel step on this machine's CPU, in one call: one process at micro-batch 2B against
# two ranks (mpirun -np 2) at micro-batch B, the same global batch; then the reduction alone at
# bucket sizes of 1, 4 (MPI's default), 25 (NCCL's) and 100 MB. One JSON line each (docs/benchmarks.md, "Data-parallel").
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${B:-4}
dotnet build -c Release samples/OneDiff.Bench -v q -nologo > /dev/null
BENCH="dotnet samples/OneDiff.Bench/bin/Release/net10.0/OneDiff.Bench.dll"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI="mpirun -np 2 --oversubscribe --bind-to none"
for round in 1 2; do
  $BENCH ddp-step --batch $((2 * B)) "$@"
  $MPI $BENCH ddp-step --batch $B "$@"
done
for mb in 1 4 25 100; do $MPI $BENCH ddp-step --batch $B --steps 2 --bucket-mb $mb "$@"; done
$MPI $BENCH ddp-step --batch $B --sharded "$@"
