# Checkpoints and --resume through the edagari binary: a train run killed
# with SIGKILL mid-epoch after a checkpoint was written, then resumed, writes
# the same model file, byte for byte, as an uninterrupted run with the same
# seed and thread count (Adam from a spec; SGD with momentum on a
# magnitude-pruned model with finetune); an uninterrupted run leaves no
# temporary file; a resume with other options, other data, another model or
# a file that is not a checkpoint is a clear error.
# usage: bash test_resume.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=resume
make_tmp eg_resume

# 2500 training images of 28x28 cut from a 2 MiB ramp (lib.sh's images takes
# them from $tmp/pix), so an epoch has 157 batches of 16
ramp 13
mkset "$tmp/data" 2500 10
mkset "$tmp/other" 2500 10 28 28 3   # one label differs
spec=$src/models/simplecnn
common=(--data "$tmp/data" --batch 16 --seed 5 --threads 2 --no-progress --checkpoint-every 7)
# the same without the checkpoints, and with a flag left out for a mismatch to fill
plain() { local skip=$1 a; for a in --data:"$tmp/data" --batch:16 --seed:5; do [ "${a%%:*}" = "$skip" ] || printf '%s\n%s\n' "${a%%:*}" "${a#*:}"; done; printf '%s\n' --threads 2 --no-progress; }

tmp_files() { ls "$1" | grep '\.tmp\.' || true; }

# run_killed DIR ARGS...: runs edagari ARGS --checkpoint DIR/ck.edg in the
# background, waits for its first checkpoint and kills it with SIGKILL.
run_killed() {
  local dir=$1
  shift
  "$bin" "$@" --checkpoint "$dir/ck.edg" >"$dir/killed.log" 2>&1 &
  local pid=$! waited=0
  while [ ! -e "$dir/ck.edg" ] && [ $waited -lt 12000 ] && kill -0 $pid 2>/dev/null; do
    sleep 0.005
    waited=$((waited + 1))
  done
  kill -9 $pid 2>/dev/null
  wait $pid
  local st=$?
  [ "$st" = 137 ] && ok || { bad "$dir: the run was not killed (status $st)"; sed 's/^/    /' "$dir/killed.log" >&2; }
  [ -e "$dir/ck.edg" ] && ok || bad "$dir: no checkpoint was written before the kill"
}

# mid_epoch NAME FILE: edagari info shows a position inside an epoch
mid_epoch() {
  expect "$1: info" 0 "checkpoint: optimizer" "position: epoch" "stage: train" -- "$bin" info "$2"
  local done total
  read -r done total < <(sed -n 's/.* \([0-9]*\) of \([0-9]*\) batches done.*/\1 \2/p' "$tmp/out")
  if [ -n "${done:-}" ] && [ "$done" -gt 0 ] && [ "$done" -lt "$total" ]; then ok; else bad "$1: the checkpoint is not mid-epoch (${done:-?} of ${total:-?} batches done)"; fi
}

# ---------------------------------------------- train, Adam, from a spec
mkdir "$tmp/full" "$tmp/cut"
expect "uninterrupted" 0 "[train] 3 epochs, adam" "checkpoints written to $tmp/full/ck.edg (every 7 steps)" -- \
  "$bin" train --model "$spec" "${common[@]}" --epochs 3 --out "$tmp/full/m.edg" --checkpoint "$tmp/full/ck.edg"
[ -z "$(tmp_files "$tmp/full")" ] && ok || bad "an uninterrupted run left a temporary file: $(tmp_files "$tmp/full")"
expect "info: a checkpoint at the end" 0 "position: epoch 3 of 3" -- "$bin" info "$tmp/full/ck.edg"

run_killed "$tmp/cut" train --model "$spec" "${common[@]}" --epochs 3 --out "$tmp/cut/m.edg"
[ ! -e "$tmp/cut/m.edg" ] && ok || bad "the killed run wrote its model: it ended before the kill"
mid_epoch "killed train" "$tmp/cut/ck.edg"
cp "$tmp/cut/ck.edg" "$tmp/ck-train.edg"
expect "resume" 0 "[train] resuming from $tmp/cut/ck.edg: epoch 1 of 3" "model saved to $tmp/cut/m.edg" -- \
  "$bin" train --model "$spec" "${common[@]}" --epochs 3 --out "$tmp/cut/m.edg" --checkpoint "$tmp/cut/ck.edg" \
  --resume "$tmp/cut/ck.edg"
cmp -s "$tmp/full/m.edg" "$tmp/cut/m.edg" && ok || bad "train: the resumed run's model file differs from the uninterrupted run's"
cmp -s "$tmp/full/ck.edg" "$tmp/cut/ck.edg" && ok || bad "train: the resumed run's last checkpoint differs from the uninterrupted run's"

# a checkpoint at the end of an epoch (every 157 steps: an epoch's batches)
# resumes to an epoch with nothing left to do, and the same file
mkdir "$tmp/end"
expect "checkpoint at an epoch's end" 0 "2 checkpoints written" -- "$bin" train --model "$spec" \
  --data "$tmp/data" --batch 16 --seed 5 --threads 2 --no-progress --checkpoint-every 157 --epochs 2 \
  --out "$tmp/end/m.edg" --checkpoint "$tmp/end/ck.edg" --json "$tmp/end/a.json"
expect "resume at an epoch's end" 0 "epoch 2 of 2, 157 of 157 batches done" "(0.000 s, 0 images/s)" -- "$bin" train \
  --model "$spec" --data "$tmp/data" --batch 16 --seed 5 --threads 2 --no-progress --epochs 2 \
  --out "$tmp/end/r.edg" --resume "$tmp/end/ck.edg"
cmp -s "$tmp/end/m.edg" "$tmp/end/r.edg" && ok || bad "a resume from an epoch's end wrote another file"

# ---------------------- finetune, SGD with momentum, a masked model
"$bin" prune "$tmp/full/m.edg" --out "$tmp/sparse.edg" --method magnitude --amount 0.8 >/dev/null 2>&1
ft=(finetune "$tmp/sparse.edg" "${common[@]}" --epochs 2 --optimizer sgd --lr 0.01 --momentum 0.9)
mapfile -t ftp < <(plain x)
ftp=(finetune "$tmp/sparse.edg" "${ftp[@]}" --epochs 2 --optimizer sgd --lr 0.01 --momentum 0.9)
mkdir "$tmp/ft-full" "$tmp/ft-cut"
expect "finetune uninterrupted" 0 "[train] 2 epochs, sgd" -- "${bin}" "${ft[@]}" --out "$tmp/ft-full/m.edg" --checkpoint "$tmp/ft-full/ck.edg"
[ -z "$(tmp_files "$tmp/ft-full")" ] && ok || bad "an uninterrupted finetune left a temporary file"
run_killed "$tmp/ft-cut" "${ft[@]}" --out "$tmp/ft-cut/m.edg"
mid_epoch "killed finetune" "$tmp/ft-cut/ck.edg"
expect "finetune: info shows sgd" 0 "checkpoint: optimizer sgd" "momentum 0.9" "masks: yes" -- "$bin" info "$tmp/ft-cut/ck.edg"
expect "finetune resume" 0 "resuming from" "model saved to $tmp/ft-cut/m.edg" -- \
  "$bin" "${ftp[@]}" --out "$tmp/ft-cut/m.edg" --resume "$tmp/ft-cut/ck.edg"
cmp -s "$tmp/ft-full/m.edg" "$tmp/ft-cut/m.edg" && ok || bad "finetune: the resumed run's model file differs from the uninterrupted run's"

# ------------------------------------------------------------ mismatches
ck=$tmp/ck-train.edg
mapfile -t all < <(plain x)
mapfile -t noseed < <(plain --seed)
mapfile -t nobatch < <(plain --batch)
mapfile -t nodata < <(plain --data)
expect "resume: another seed" 1 "the checkpoint was written by 'train epochs=3" "seed=5'" "seed=6'" \
  "resume with the same options and seed" -- \
  "$bin" train --model "$spec" "${noseed[@]}" --seed 6 --epochs 3 --out "$tmp/x.edg" --resume "$ck"
expect "resume: other options" 1 "batch=16" "batch=32" -- \
  "$bin" train --model "$spec" "${nobatch[@]}" --batch 32 --epochs 3 --out "$tmp/x.edg" --resume "$ck"
expect "resume: other data" 1 "the checkpoint was trained on 2500 images of 1x28x28" "resume on the same data" -- \
  "$bin" train --model "$spec" "${nodata[@]}" --data "$tmp/other" --epochs 3 --out "$tmp/x.edg" --resume "$ck"
sed 's/out=64/out=32/' "$spec" >"$tmp/narrow"
expect "resume: another model" 1 "the checkpoint holds another model than $tmp/narrow" "out=64" "out=32" -- \
  "$bin" train --model "$tmp/narrow" "${all[@]}" --epochs 3 --out "$tmp/x.edg" --resume "$ck"
expect "resume: masks differ" 1 "the checkpoint's masks differ from those of $tmp/full/m.edg" -- \
  "$bin" finetune "$tmp/full/m.edg" "${all[@]}" --epochs 2 --optimizer sgd --lr 0.01 --momentum 0.9 \
  --out "$tmp/x.edg" --resume "$tmp/ft-cut/ck.edg"
expect "resume: a plain model file" 1 "not a checkpoint" -- \
  "$bin" train --model "$spec" "${all[@]}" --epochs 3 --out "$tmp/x.edg" --resume "$tmp/full/m.edg"
expect "resume: no such file" 1 "$tmp/none.edg: cannot open model file" -- \
  "$bin" train --model "$spec" "${all[@]}" --epochs 3 --out "$tmp/x.edg" --resume "$tmp/none.edg"
no_file "resume errors" "$tmp/x.edg"
expect "checkpoint without every" 2 "checkpoint=FILE and checkpoint_every=N go together" -- \
  "$bin" train --model "$spec" --data "$tmp/data" --out "$tmp/x.edg" --checkpoint "$tmp/c.edg"
expect "checkpoint in a missing folder" 1 "checkpoint $tmp/nodir/c.edg" -- \
  "$bin" train --model "$spec" "${common[@]}" --out "$tmp/x.edg" --checkpoint "$tmp/nodir/c.edg"
# a recipe's train stage takes the same two keys
printf 'model %s\ntrain epochs=1 batch=16 checkpoint=%s checkpoint_every=50\n' "$spec" "$tmp/recipe-ck.edg" >"$tmp/ck.recipe"
expect "recipe checkpoint" 0 "3 checkpoints written to $tmp/recipe-ck.edg (every 50 steps)" -- \
  "$bin" run "$tmp/ck.recipe" --data "$tmp/data" --no-progress --threads 2
expect "recipe checkpoint: info" 0 "position: epoch 1 of 1, 150 of 157 batches done" -- "$bin" info "$tmp/recipe-ck.edg"
expect "checkpoint over the model file" 1 "$tmp/x.edg: the model file and the checkpoint would be the same file" -- \
  "$bin" train --model "$spec" "${common[@]}" --out "$tmp/x.edg" --checkpoint "$tmp/x.edg"
expect "resume on prune" 2 "--resume is not an option of edagari prune" -- \
  "$bin" prune "$tmp/full/m.edg" --out "$tmp/x.edg" --layer conv1 --amount 1 --resume "$ck"
finish
