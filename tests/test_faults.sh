# Faults during training, through the edagari binary:
# - divergence: LeNet-300-100 on MNIST with SGD at lr 10 and momentum 0.9
#   turns nan within a few steps; the run stops at that step naming the
#   stage, the step, the layer and the value, exits 1, writes no model, and
#   keeps the last good checkpoint (finite: edagari eval takes it);
# - SIGINT and SIGTERM mid-epoch: the step finishes, a checkpoint is
#   written, the message says how to --resume, the exit status is 130 or
#   143, no temporary file is left, and the resumed run writes the same
#   model file, byte for byte, as an uninterrupted one; without
#   checkpointing nothing is written;
# - a NAME.tmp.PID left by a process that is gone (a kill -9 during a
#   write) is removed by the next write to NAME; one of a living process
#   is not;
# - --threads above the core count: a warning, and the core count.
# usage: bash test_faults.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=faults
make_tmp eg_faults

tmp_files() { ls "$1" | grep '\.tmp\.' || true; }

# ------------------------------------------------------------- divergence
if [ -f "$src/data/mnist/train-labels-idx1-ubyte" ] || [ -f "$src/data/mnist/train-labels-idx1-ubyte.gz" ]; then
  mkdir "$tmp/nan"
  expect "diverging training" 1 "edagari train: training diverged in epoch 1 of 1, at step " "'s weight [" \
    "(sgd lr 10: a smaller one may help); the last good checkpoint, $tmp/nan/ck.edg (step " "), is kept; nothing else was written" -- \
    "$bin" train --model "$src/models/lenet300100" --data "$src/data/mnist" --optimizer sgd --lr 10 --momentum 0.9 \
    --threads 1 --no-progress --out "$tmp/nan/m.edg" --json "$tmp/nan/r.json" --checkpoint "$tmp/nan/ck.edg" --checkpoint-every 2
  grep -qE "is -?(nan|inf)" "$tmp/out" && ok || bad "diverging training: the value is not named: $(cat "$tmp/out")"
  at=$(sed -n 's/.*at step \([0-9]*\),.*/\1/p' "$tmp/out") kept=$(sed -n 's/.*ck.edg (step \([0-9]*\)).*/\1/p' "$tmp/out")
  [ -n "$at" ] && [ -n "$kept" ] && [ "$kept" -lt "$at" ] && ok || bad "diverging training: kept step ${kept:-?}, diverged at ${at:-?}"
  no_file "diverging training: the model" "$tmp/nan/m.edg"
  no_file "diverging training: the report" "$tmp/nan/r.json"
  expect "the kept checkpoint is finite" 0 "test accuracy" -- "$bin" eval "$tmp/nan/ck.edg" --data "$src/data/mnist"
else
  bad "no MNIST in $src/data/mnist for the divergence case (./edagari.sh fetches it)"
fi

# ---------------------------------------------------------------- signals
# 2500 training images of 28x28 from a 2 MiB ramp: 157 batches of 16 an epoch
ramp 13
mkset "$tmp/data" 2500 10
run=(train --model "$src/models/simplecnn" --data "$tmp/data" --batch 16 --epochs 3 --seed 3 --threads 2 --no-progress)
mkdir "$tmp/full"
expect "uninterrupted" 0 "model saved to" -- "$bin" "${run[@]}" --out "$tmp/full/m.edg"

# stopped SIG STATUS DIR [checkpoint args]: runs training in the background,
# sends SIG once it is under way (its first checkpoint written, or its first
# epoch line printed) and expects STATUS; the output is in DIR/log
stopped() {
  local sig=$1 want=$2 dir=$3 waited=0
  shift 3
  mkdir "$dir"
  # SIGINT at its default: a shell without job control starts background jobs ignoring it
  env --default-signal=INT "$bin" "${run[@]}" --out "$dir/m.edg" "$@" >"$dir/log" 2>&1 &
  local pid=$!
  while [ ! -e "$dir/ck.edg" ] && ! grep -q "epoch 1/3" "$dir/log" && [ $waited -lt 12000 ] && kill -0 $pid 2>/dev/null; do
    sleep 0.005
    waited=$((waited + 1))
  done
  kill -s "$sig" $pid
  wait $pid
  local got=$?
  [ "$got" = "$want" ] && ok || { bad "$sig: status $got, want $want"; sed 's/^/    /' "$dir/log" >&2; }
  grep -q "Sanitizer\|runtime error" "$dir/log" && bad "$sig: a sanitizer report" || ok
  [ -z "$(tmp_files "$dir")" ] && ok || bad "$sig: a temporary file was left: $(tmp_files "$dir")"
  [ ! -e "$dir/m.edg" ] && ok || bad "$sig: a model file was written"
}
for sig in INT:130 TERM:143; do
  d=$tmp/${sig%:*}
  stopped "${sig%:*}" "${sig#*:}" "$d" --checkpoint "$d/ck.edg" --checkpoint-every 7
  grep -q "edagari: edagari train: stopped by SIG${sig%:*} in epoch [1-3] of 3, after step [0-9]*, batch [0-9]* of 157; checkpoint written to $d/ck.edg (step [0-9]*): to go on, run the same command with --resume $d/ck.edg" "$d/log" &&
    ok || bad "SIG${sig%:*}: the message: $(cat "$d/log")"
  expect "SIG${sig%:*}: resumed" 0 "[train] resuming from $d/ck.edg" -- \
    "$bin" "${run[@]}" --out "$d/m.edg" --checkpoint "$d/ck.edg" --checkpoint-every 7 --resume "$d/ck.edg"
  cmp -s "$tmp/full/m.edg" "$d/m.edg" && ok || bad "SIG${sig%:*}: the resumed run's model differs from the uninterrupted one's"
done
stopped INT 130 "$tmp/nock"
grep -q "stopped by SIGINT in epoch .*; nothing was written (--checkpoint FILE" "$tmp/nock/log" && ok ||
  bad "SIGINT without checkpoints: the message: $(cat "$tmp/nock/log")"

# ------------------------------------------------- stale temporary files
mkdir "$tmp/stale"
sleep 0 &
dead=$!
wait $dead
: >"$tmp/stale/m.edg.tmp.$dead"
: >"$tmp/stale/m.edg.tmp.$$"   # this shell's: alive
: >"$tmp/stale/other.edg.tmp.$dead"
expect "a write after a kill -9" 0 "model saved to" -- "$bin" prune "$tmp/full/m.edg" --out "$tmp/stale/m.edg" --layer conv1 --amount 1
[ ! -e "$tmp/stale/m.edg.tmp.$dead" ] && ok || bad "the temporary file of a process that is gone was left"
[ -e "$tmp/stale/m.edg.tmp.$$" ] && ok || bad "the temporary file of a living process was removed"
[ -e "$tmp/stale/other.edg.tmp.$dead" ] && ok || bad "another target's temporary file was removed"

# ---------------------------------------------------------------- threads
threads=$("$bin" --version | awk '$1 == "threads" { print $2 }')
if "$bin" --version | grep -q "without OpenMP"; then
  expect "--threads 1000" 0 "edagari: warning: --threads 1000: this edagari is built without OpenMP" \
    "seed 0, 1 thread" -- "$bin" eval "$tmp/full/m.edg" --data "$tmp/data" --threads 1000
else
  expect "--threads 1000" 0 "edagari: warning: --threads 1000 is more than the $threads core" "using $threads" \
    "seed 0, $threads thread" -- "$bin" eval "$tmp/full/m.edg" --data "$tmp/data" --threads 1000
fi
finish
