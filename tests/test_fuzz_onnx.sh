# Fuzzes the ONNX reader for 20 seconds with libFuzzer (tests/fuzz/fuzz_onnx.c,
# built with clang -fsanitize=fuzzer,address,undefined), starting from the
# committed seeds in tests/fuzz/onnx_seeds/ (tiny PyTorch and edagari
# exports); any crash, leak, undefined behaviour or refusal without a
# message fails it, and the input that did it is kept in build/tests/fuzz_onnx-crashes/.
# Exits 77 (skipped) where the target is not built: no clang, no ONNX, a
# sanitizer build (the plain build runs it) or a cross-build.
# usage: bash test_fuzz_onnx.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2 bt=$3
. "$(dirname "$0")/lib.sh"
suite=fuzz_onnx
fz=$bt/fuzz_onnx
if [ ! -x "$fz" ]; then
  why="edagari was built without ONNX"
  command -v clang >/dev/null || why="clang is missing (apt-get install clang)"
  grep -q 'EG_SANITIZE:BOOL=ON' "$bt/../CMakeCache.txt" 2>/dev/null && why="this is the sanitizer build; the plain build runs it"
  [ -n "${EG_EMULATOR:-}" ] && why="a cross-build, run under $EG_EMULATOR; the native build fuzzes"
  echo "$suite: skipped: no fuzz target: $why"
  exit 77
fi
make_tmp eg_fuzz_onnx
mkdir "$tmp/corpus"
seeds=$src/tests/fuzz/onnx_seeds
[ "$(ls "$seeds" | wc -l)" -ge 3 ] && ok || bad "fewer than 3 seeds in $seeds"
"$fz" -max_total_time=20 -max_len=4096 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$tmp/" -print_final_stats=1 \
  "$tmp/corpus" "$seeds" >"$tmp/log" 2>&1
rc=$?
grep -E '^Done|^stat::(number_of_executed_units|new_units_added)' "$tmp/log"
if [ "$rc" -eq 0 ] && grep -q '^Done [0-9]* runs' "$tmp/log"; then
  ok
else
  bad "libFuzzer exited with status $rc:"
  grep -E 'ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==' "$tmp/log" | head -20 >&2
  mkdir -p "$bt/fuzz_onnx-crashes" && cp "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-* "$bt/fuzz_onnx-crashes/" 2>/dev/null
  echo "  inputs kept in $bt/fuzz_onnx-crashes/; replay with $fz FILE" >&2
fi
finish
