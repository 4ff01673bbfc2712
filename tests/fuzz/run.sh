# Runs one libFuzzer harness for a bounded time from its seeds and committed
# regression inputs, in a scratch folder so the source tree is not written
# to. A crash, leak, sanitizer report, timeout or out-of-memory fails the
# test, and the input libFuzzer saved is kept beside the harness
# (<harness>-crashes/) and printed in base64. Exits 77 (skipped) when the
# harness was not built, saying why.
# usage: bash run.sh <fuzzer, or "" when not built> <name> <seconds> <max input bytes> <why not built> <seed dir>...
set -u
fuzzer=$1 name=$2 seconds=$3 max_len=$4 why=$5
shift 5
if [ -z "$fuzzer" ]; then
  echo "$name: skipped: ${why:-the harness was not built}"
  exit 77
fi
tmp=$(mktemp -d "/tmp/eg_$name.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/new" "$tmp/crash"
# -rss_limit_mb, -malloc_limit_mb: a hostile file must not make a reader use more
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=1024 -max_len="$max_len" \
  -print_final_stats=1 -artifact_prefix="$tmp/crash/" "$tmp/new" "$@" >"$tmp/log" 2>&1
status=$?
if [ $status -ne 0 ] || [ -n "$(ls "$tmp/crash")" ]; then
  grep -E 'ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==' "$tmp/log" | head -20
  tail -30 "$tmp/log"
  keep=$(dirname "$fuzzer")/$name-crashes
  mkdir -p "$keep"
  for f in "$tmp/crash"/*; do
    [ -e "$f" ] || continue
    cp "$f" "$keep/"
    echo "FAILED: input kept in $keep/$(basename "$f") (base64: $(base64 -w0 "$f" | head -c 600)); replay with $fuzzer FILE"
  done
  echo "$name: FAILED (libFuzzer status $status)"
  exit 1
fi
grep -E '^stat::number_of_executed_units|^Done' "$tmp/log"
echo "$name: passed: $seconds s, no crash, leak or sanitizer report"
