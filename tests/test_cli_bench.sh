# edagari bench: a short run writes a JSON report whose figures are all
# positive and complete; --help and bad flags behave.
# usage: bash test_cli_bench.sh <edagari binary> <source dir> <build test dir>
# Never asserts on wall time or on how fast anything is: the machine may be
# shared, and sanitizer builds are slow. Needs jq (./edagari.sh installs it).
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=cli_bench
need_jq
make_tmp eg_cli_bench
# expect (lib.sh) keeps stdout and stderr apart: --help must print to stdout only
expect_split=1

# ---------------------------------------------------------------- flags
expect "--help" 0 "usage: edagari bench" "--seconds" "--json" -- "$bin" bench --help
[ -s "$tmp/out" ] && [ ! -s "$tmp/err" ] && ok || bad "--help: the usage should go to stdout only"
expect "listed" 0 "bench" -- "$bin" --help
expect "unknown flag" 2 "unexpected argument '--frob'" "usage: edagari bench" -- "$bin" bench --frob
expect "a stray argument" 2 "unexpected argument 'models/simplecnn'" "usage: edagari bench" -- \
  "$bin" bench models/simplecnn
expect "--threads 0" 2 "expected an integer from 1 to 1024, found '0'" "usage: edagari bench" -- \
  "$bin" bench --threads 0
expect "--threads x" 2 "found 'x'" "usage: edagari bench" -- "$bin" bench --threads x
expect "--seconds abc" 2 "--seconds" "found 'abc'" "usage: edagari bench" -- "$bin" bench --seconds abc
expect "--seconds 0" 2 "--seconds" "found '0'" "usage: edagari bench" -- "$bin" bench --seconds 0
expect "--seconds -1" 2 "--seconds" "usage: edagari bench" -- "$bin" bench --seconds -1
expect "--seconds nan" 2 "--seconds" "usage: edagari bench" -- "$bin" bench --seconds nan
expect "--seconds without a value" 2 "(nothing)" "usage: edagari bench" -- "$bin" bench --seconds
expect "--model without a value" 2 "--model needs a value" "usage: edagari bench" -- "$bin" bench --model
expect "--json without a value" 2 "--json needs a value" "usage: edagari bench" -- "$bin" bench --json

# errors found before any measuring
expect "missing model" 1 "edagari: error:" "$tmp/no-such-model" -- "$bin" bench --model "$tmp/no-such-model"
printf 'input x shape=1x28x28\nconv2d c out=4 kernel=3 pad=1 frob=2\n' >"$tmp/bad.spec"
expect "bad model" 1 "edagari: error:" "bad.spec:2" -- "$bin" bench --model "$tmp/bad.spec"
expect "--json in a missing folder" 1 "$tmp/no-such-dir" -- \
  "$bin" bench --seconds 0.05 --json "$tmp/no-such-dir/b.json"
[ ! -e "$tmp/no-such-dir" ] && ok || bad "--json: the missing folder was created"
mkdir -p "$tmp/reports"
expect "--json a folder" 1 "expected a file name" -- "$bin" bench --seconds 0.05 --json "$tmp/reports"

# ------------------------------------------------------------ a short run
json=$tmp/reports/bench.json
expect "a short run" 0 "peak" "train, batch 64" "inference, batch 1000" "inference, batch 64" \
  "inference, batch 1 " "3 x the forward MACs" "conv1" "fc2" "report written to $json" -- \
  "$bin" bench --model "$src/models/simplecnn" --threads 2 --seconds 1 --json "$json"
[ "$(ls "$tmp/reports")" = bench.json ] && ok || bad "json: left beside the report: $(ls "$tmp/reports")"

if jq -e . "$json" >/dev/null 2>&1; then
  ok
  # check NAME JQ-FILTER: the filter must yield true
  check() {
    if [ "$(jq -r "$2" "$json" 2>&1)" = true ]; then ok; else bad "json: $1 ($2 gives $(jq -c "$2" "$json" 2>&1))"; fi
  }
  pos='type == "number" and . > 0'
  threads=$("$bin" --version | awk '$1 == "threads" { print ($2 < 2 ? $2 : 2) }')
  check "threads" ".threads == $threads"
  check "macs" '.macs_per_image == 110400 and .params == 26138'
  check "peak per core" ".peak.gflops_per_core | $pos"
  check "peak total" ".peak.gflops_total | $pos"
  check "peak rounds" '(.peak.rounds_per_core | length) >= 5 and (.peak.rounds_total | length) >= 5'
  for f in images_per_s gflops fraction_of_peak step_seconds flops_per_image; do
    check "train $f" ".train.$f | $pos"
  done
  check "train rounds" '(.train.rounds_images_per_s | length) >= 5 and all(.train.rounds_images_per_s[]; . > 0)'
  check "train flops" '.train.flops_per_image == 6 * .macs_per_image'
  for b in 1000 64 1; do
    for f in images_per_s gflops fraction_of_peak; do
      check "inference batch $b $f" ".inference.batch$b.$f | $pos"
    done
    check "inference batch $b" ".inference.batch$b.batch == $b and (.inference.batch$b.rounds_images_per_s | length) >= 5"
  done
  check "layers" '[.train.layers[].node] == ["conv1","relu1","pool1","conv2","relu2","pool2","flat","fc1","relu3","fc2"]'
  check "layer times" 'all(.train.layers[] | select(.op == "conv2d" or .op == "linear");
                          .fwd_seconds > 0 and .bwd_seconds > 0 and .fwd_gflops_per_core > 0 and .bwd_gflops_per_core > 0)'
else
  bad "json: $json is not valid JSON"
fi

# a pruned model (conv1 with 2 filters) runs too, on one thread
sed 's/^conv2d    conv1  out=4/conv2d    conv1  out=2/' "$src/models/simplecnn" >"$tmp/pruned.spec"
grep -q 'out=2' "$tmp/pruned.spec" && ok || bad "could not write the pruned spec"
expect "pruned, one thread" 0 "68064 MACs per image" "1 thread" -- \
  "$bin" bench --model "$tmp/pruned.spec" --threads 1 --seconds 0.2

finish
