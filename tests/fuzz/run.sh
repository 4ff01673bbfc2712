# Runs the model-file fuzz harness for a bounded time from the committed seed
# corpus (and the committed hostile files), in a scratch folder so the source
# tree is not written to. Any crash, leak, sanitizer report or timeout fails
# the test and names the input libFuzzer saved.
# usage: bash run.sh <fuzzer, or "" when not built> <corpus dir> <seconds> [why not built]
set -u
fuzzer=$1 corpus=$2 seconds=$3 why=${4:-}
if [ -z "$fuzzer" ]; then
  echo "fuzz_model_file: skipped: ${why:-the harness was not built}"
  exit 77
fi
tmp=$(mktemp -d /tmp/eg_fuzz.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/new" "$tmp/crash"
hostile=$(dirname "$0")/../fixtures/bad_edg
seeds=("$corpus")
[ -d "$hostile" ] && seeds+=("$hostile")
# -rss_limit_mb: a hostile file must not make the reader use more than this
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=1024 -max_len=8192 \
  -print_final_stats=1 -artifact_prefix="$tmp/crash/" "$tmp/new" "${seeds[@]}" >"$tmp/log" 2>&1
status=$?
if [ $status -ne 0 ] || [ -n "$(ls "$tmp/crash")" ]; then
  tail -60 "$tmp/log"
  for f in "$tmp/crash"/*; do
    [ -e "$f" ] || continue
    keep=/tmp/eg_fuzz_crash.$(basename "$f")
    cp "$f" "$keep"
    echo "FAILED: the input is kept in $keep (base64: $(base64 -w0 "$f" | head -c 600))"
  done
  echo "fuzz_model_file: FAILED (libFuzzer status $status)"
  exit 1
fi
grep -E "^stat::number_of_executed_units|^Done" "$tmp/log"
echo "fuzz_model_file: passed: ${seconds} s, no crash, leak or sanitizer report"
