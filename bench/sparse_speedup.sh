#!/usr/bin/env bash
# Pruned inference against dense, one thread, medians (bench/sparse_speedup.c):
#   1. fc1 of SimpleCNN alone: dense, CSR and N:M kernels at 0-99% magnitude
#      sparsity and 2:4, batches 1, 64 and 1000 (goal: >= 3x at 90%);
#      1b. the same layer in batch lanes, as whole-model batch inference runs
#      it (src/graph/lanes.c; AVX-512 machines): its dense and CSR kernels;
#   2. the whole SimpleCNN and LeNet-5, dense against pruned: 50-99%
#      unstructured (every layer), 2:4, and 25/50/75% of the channels of
#      every prunable layer, with the MAC ratio beside the speed-up (goal
#      for channels: the speed-up within 20% of the MAC ratio, "of MACs"
#      >= 80%).
# Usage: bench/sparse_speedup.sh [--layers]
#   --layers  also every conv2d and linear layer of both models alone, image
#             by image and in batch lanes (the figures
#             src/graph/plan.c's shares come from)
# Builds in build-sparse (Release) unless BUILD names another build tree.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-sparse}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target sparse_speedup -j >/dev/null
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== 1. fc1 alone"
"$build/sparse_speedup" layers models/simplecnn fc1
if grep -q avx512f /proc/cpuinfo; then
  echo
  echo "== 1b. fc1 in batch lanes"
  "$build/sparse_speedup" lanes models/simplecnn fc1
fi
for spec in models/simplecnn models/lenet5; do
  echo
  echo "== 2. whole model: $spec"
  "$build/sparse_speedup" model "$spec"
done
if [ "${1:-}" = --layers ]; then
  for spec in models/simplecnn models/lenet5; do
    echo
    echo "== every layer alone: $spec"
    "$build/sparse_speedup" layers "$spec"
    if grep -q avx512f /proc/cpuinfo; then
      echo
      echo "== every layer in batch lanes: $spec"
      "$build/sparse_speedup" lanes "$spec"
    fi
  done
fi
