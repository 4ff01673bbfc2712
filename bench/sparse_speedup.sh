#!/usr/bin/env bash
# fc1's inference forward, dense vs CSR, at 0-99% sparsity and batch 1, 64
# and 1000 (bench/sparse_speedup.c). Builds in build-sparse (Release) unless
# BUILD names another build tree. Usage: bench/sparse_speedup.sh [spec] [node]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-sparse}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target sparse_speedup -j >/dev/null
"$build/sparse_speedup" "$@"
