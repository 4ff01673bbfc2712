#!/usr/bin/env bash
# Installs onnxruntime-node from npm into tests/.ort/ (git-ignored) when it is
# missing, checks that the package holds its native library for linux x64 and
# that node loads it, and prints the folder. --ignore-scripts: the package's
# install script only fetches GPU libraries; the CPU one is in the package.
# usage: bash tests/onnx/setup_ort.sh  (edagari.sh and tests/test_onnx_ort.sh call it)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
dir=$src/tests/.ort
ver=1.22.0  # 1.20 fuses a Pad into the AveragePool after it wrongly (onnxruntime#22177)
pkg=$dir/node_modules/onnxruntime-node
lib() { ls -d "$pkg"/bin/napi-v*/linux/x64 2>/dev/null | head -n 1; }  # napi-v3 up to 1.20, napi-v6 after
die() { echo "setup_ort.sh: error: $*" >&2; exit 1; }
command -v node >/dev/null || die "node is missing (apt-get install nodejs npm)"
mkdir -p "$dir"
# one installer at a time (the plain and sanitizer test runs may overlap)
exec 9>"$dir/.lock"
flock 9
if [ ! -f "$(lib)/onnxruntime_binding.node" ] || ! grep -q "\"version\": \"$ver\"" "$pkg/package.json" 2>/dev/null; then
  command -v npm >/dev/null || die "npm is missing (apt-get install npm)"
  echo "setup_ort.sh: npm install --ignore-scripts onnxruntime-node@$ver into $dir" >&2
  npm install --prefix "$dir" --ignore-scripts --no-audit --no-fund --no-save --silent "onnxruntime-node@$ver" >&2 ||
    die "npm install onnxruntime-node@$ver failed"
fi
[ -f "$(lib)/onnxruntime_binding.node" ] || die "$pkg has no native binding for linux x64 (bin/napi-v*/linux/x64)"
ls "$(lib)"/libonnxruntime.so* >/dev/null 2>&1 || die "$pkg has no libonnxruntime.so for linux x64"
node -e "require(process.argv[1])" "$pkg" || die "node cannot load $pkg"
echo "$dir"
