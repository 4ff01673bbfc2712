# Integration test on the real MNIST: the canonical recipe (recipes/seed.recipe)
# with a fixed seed, run twice.
# usage: bash test_seed_mnist.sh <edagari binary> <source dir> <build test dir>
# Checks the run succeeds, the final accuracy is at least 96%, the report has
# every accuracy and the pruned model's size, the log names the pruned
# channels, and a second run with the same seed and threads gives the same
# figures. Needs jq (./edagari.sh installs it); fetches MNIST if missing.
# EG_SEED_MNIST_RUNS=1 leaves out the second run; it is the default under an
# emulator (EG_EMULATOR), where a run takes minutes, and the native build
# still compares two runs.
set -u
bin=$1 src=$2
min_acc=96.0 want_params=25974 want_macs=68064
runs=${EG_SEED_MNIST_RUNS:-$([ -n "${EG_EMULATOR:-}" ] && echo 1 || echo 2)}
. "$(dirname "$0")/lib.sh"
suite=seed_mnist
need_jq
make_tmp eg_seed_mnist

mnist=$src/data/mnist
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [ ! -f "$mnist/$f" ]; then
    bash "$src/scripts/fetch_mnist.sh" || { bad "scripts/fetch_mnist.sh failed"; finish; }
    break
  fi
done

# run N: runs the recipe into $tmp/runN.json and $tmp/runN.log; fails on a
# bad status or any sanitizer report.
run() {
  "$bin" run "$src/recipes/seed.recipe" --data "$mnist" --seed 0 --threads 2 \
    --json "$tmp/run$1.json" --no-progress >"$tmp/run$1.log" 2>&1
  local got=$?
  if [ "$got" -ne 0 ] || grep -qE 'Sanitizer|runtime error:' "$tmp/run$1.log"; then
    bad "run $1: exit status $got"; sed 's/^/    /' "$tmp/run$1.log" >&2; return 1
  fi
  [ -s "$tmp/run$1.json" ] || { bad "run $1: no JSON report"; return 1; }
  jq -e type "$tmp/run$1.json" >/dev/null || { bad "run $1: the report is not valid JSON"; return 1; }
  echo "seed_mnist: run $1 took $(jq -r .total_seconds "$tmp/run$1.json") s in edagari"
  ok
}
run 1 || finish
j=$tmp/run1.json
q() { jq -r "$1" "$j"; }

# accuracies: all three present as numbers, the final one good enough
for k in trained after_pruning final; do
  [ "$(q ".accuracy.$k | type")" = number ] && ok || bad "accuracy.$k is missing: $(q .accuracy)"
done
final=$(q .accuracy.final)
jq -e --argjson min "$min_acc" '.accuracy.final >= $min' "$j" >/dev/null && ok ||
  bad "final test accuracy $final% is below $min_acc%"

# the pruned model
[ "$(q .model_after.params)" = "$want_params" ] && ok ||
  bad "model_after.params is $(q .model_after.params), want $want_params"
[ "$(q .model_after.macs)" = "$want_macs" ] && ok ||
  bad "model_after.macs is $(q .model_after.macs), want $want_macs"

# the log names the channels the report says were pruned
pruned=$(q '[.stages[] | select(.stage == "prune") | .pruned] | first // empty | map(tostring) | join(", ")')
if [ -z "$pruned" ]; then
  bad "the report has no prune stage with pruned channels"
elif grep -qF "pruned channels [$pruned]" "$tmp/run1.log"; then
  ok
else
  bad "the log does not mention 'pruned channels [$pruned]':"; sed 's/^/    /' "$tmp/run1.log" >&2
fi

# reproducibility: the same seed and threads give the same figures
# figures: final accuracy, final loss (the last eval's), then every loss on the way
figures() {
  jq -c '[.accuracy.final, ([.stages[] | select(.stage == "eval") | .loss] | last),
          [.stages[] | (.loss // empty), (.epochs // [] | .[].loss)]]' "$1"
}
if [ "$runs" -lt 2 ]; then
  echo "seed_mnist: one run (EG_SEED_MNIST_RUNS=$runs${EG_EMULATOR:+, under $EG_EMULATOR}): no second run to compare"
elif run 2; then
  a=$(figures "$tmp/run1.json") b=$(figures "$tmp/run2.json")
  [ "$a" = "$b" ] && ok || bad "a second run with seed 0 and 2 threads differs:
    run 1 [final accuracy, final loss, losses]: $a
    run 2 [final accuracy, final loss, losses]: $b"
fi

echo "seed_mnist: final accuracy $final% (trained $(q .accuracy.trained)%, after pruning $(q .accuracy.after_pruning)%)"
finish
