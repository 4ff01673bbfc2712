# Model files and the stage commands through the edagari binary: the chain
# train -> prune -> finetune -> eval -> info on a tiny crafted IDX set, the
# same stage run as a recipe giving the same file, --save, usage errors, and
# failing commands that leave no file behind.
# usage: bash test_cli_files.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=cli_files
make_tmp eg_cli_files

is_model_file() { # the magic 89 45 44 47 0d 0a 1a 0a
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 894544470d0a1a0a ]
}

# ---------------------------------------------------------------- data
# 64 training and 32 test images of 28x28 from a 256-byte ramp, labels 0..9 in turn (lib.sh).
mkset "$tmp/tiny" 64 32
mkset "$tmp/bad-label" 64 32 28 28 40   # training sample 2 is class 42
mkdir "$tmp/test-only"
cp "$tmp/tiny"/t10k-* "$tmp/test-only/"
spec=$src/models/simplecnn
m=$tmp/models
mkdir "$m"

# ------------------------------------------------------------ the chain
expect "train" 0 "edagari train: seed 3" "64 train images" "[train] 1 epoch, adam lr 0.001, batch 16" \
  "model saved to $m/m.edg" "report written to $tmp/train.json" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/m.edg" --batch 16 --seed 3 --json "$tmp/train.json" --no-progress
is_model_file "$m/m.edg" && ok || bad "train: $m/m.edg is not a model file"
grep -q "\"saved\": \"$m/m.edg\"" "$tmp/train.json" && ok || bad "train: the report does not name the saved model"
# the same command twice writes the same bytes
"$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/again.edg" --batch 16 --seed 3 --no-progress >/dev/null 2>&1
cmp -s "$m/m.edg" "$m/again.edg" && ok || bad "train: the same seed wrote a different file"

expect "info m.edg" 0 "model file $m/m.edg: model simplecnn, format 1" "26138 parameters, 110400 MACs per image" \
  "non-zero" "masks: none" "spec:" "conv2d    conv1  out=4 kernel=3 stride=1 pad=1" "history:" \
  "1. init from spec $spec, seed 3" "2. train 1 epoch, adam lr 0.001, batch 16, shuffled, seed 3, on $tmp/tiny (64 images)" -- \
  "$bin" info "$m/m.edg"

expect "prune" 0 "edagari prune" "[prune] l1 on conv1: removing 2 of 4 channels" "params 26138 -> 25974" \
  "model saved to $m/p.edg" -- "$bin" prune "$m/m.edg" --out "$m/p.edg" --layer conv1 --amount 2
grep -q "^data" "$tmp/out" && bad "prune: data was loaded" || ok
expect "info p.edg" 0 "25974 parameters, 68064 MACs" "conv2d    conv1  out=2 kernel=3" \
  "3. prune l1 conv1: removed 2 of 4 channels [" "params 26138 -> 25974, MACs 110400 -> 68064" -- "$bin" info "$m/p.edg"

# a recipe running the same stage on the same file writes the same file
printf 'model %s\nprune method=l1 layer=conv1 amount=2\n' "$m/m.edg" >"$tmp/prune.recipe"
expect "run --save" 0 "loaded from a model file, not re-initialised" "model saved to $m/r.edg" -- \
  "$bin" run "$tmp/prune.recipe" --save "$m/r.edg"
cmp -s "$m/p.edg" "$m/r.edg" && ok || bad "edagari prune and the same recipe stage wrote different files"

expect "finetune" 0 "edagari finetune" "model $m/p.edg: 25974 parameters" "loaded from a model file" \
  "[train] 2 epochs, sgd lr 0.01, batch 32" "model saved to $m/f.edg" -- \
  "$bin" finetune "$m/p.edg" --data "$tmp/tiny" --out "$m/f.edg" --epochs 2 --optimizer sgd --lr 0.01 --momentum 0.9 \
  --batch 32 --no-progress
expect "eval" 0 "data $tmp/test-only: 32 test images" "[eval] test accuracy" "(as loaded)" "(32 images" \
  "accuracy final" -- "$bin" eval "$m/f.edg" --data "$tmp/test-only" --batch 8
expect "info f.edg" 0 "25974 parameters" "4. train 2 epochs, sgd lr 0.01, batch 32" -- "$bin" info "$m/f.edg"

# unstructured: masks and sparse tensors, kept through fine-tuning
expect "prune magnitude" 0 "[prune] magnitude, one threshold for all, 90.0% of the weights" "model saved to $m/s.edg" -- \
  "$bin" prune "$m/f.edg" --out "$m/s.edg" --method magnitude --amount 0.9
big=$(stat -c %s "$m/f.edg") small=$(stat -c %s "$m/s.edg")
[ "$small" -lt $((big / 3)) ] && ok || bad "a 90% sparse model file is $small bytes, the dense one $big"
# 25890 weights, 23301 of them masked: 2589 left, and the 84 biases
expect "finetune masked" 0 "model saved to $m/s2.edg" "(2673 parameters non-zero)" -- \
  "$bin" finetune "$m/s.edg" --data "$tmp/tiny" --out "$m/s2.edg" --no-progress
expect "info s2.edg" 0 "masks: yes" "90.0%" "prune magnitude, global, 90.0% of the weights of every conv2d and linear" -- \
  "$bin" info "$m/s2.edg"
small2=$(stat -c %s "$m/s2.edg")
[ "$small2" -lt $((big / 3)) ] && ok || bad "the fine-tuned sparse model file is $small2 bytes, the dense one $big"
expect "prune local layers" 0 "each layer alone" "of the weights of fc1,fc2" -- \
  "$bin" prune "$m/f.edg" --out "$m/l.edg" --method magnitude --amount 0.5 --scope local --layers fc1,fc2
# finetune in place: the file is replaced whole
expect "finetune in place" 0 "model saved to $m/l.edg" -- "$bin" finetune "$m/l.edg" --data "$tmp/tiny" --out "$m/l.edg" --no-progress
expect "info in place" 0 "masks: yes" -- "$bin" info "$m/l.edg"

# train from a model file goes on from it (and a recipe may start from one)
expect "train from a file" 0 "loaded from a model file" "model saved to $m/t.edg" -- \
  "$bin" train --model "$m/f.edg" --data "$tmp/tiny" --out "$m/t.edg" --no-progress
printf 'model %s\ndata %s\neval batch=16\n' "$m/f.edg" "$tmp/tiny" >"$tmp/eval.recipe"
expect "recipe with a model file" 0 "(as loaded)" -- "$bin" run "$tmp/eval.recipe"
printf 'model %s\ndata %s\ntrain epochs=1 batch=16\n' "$spec" "$tmp/tiny" >"$tmp/train.recipe"
expect "run --save from a spec" 0 "model saved to $m/run.edg" -- "$bin" run "$tmp/train.recipe" --save "$m/run.edg" --no-progress
expect "info run.edg" 0 "1. init from spec" -- "$bin" info "$m/run.edg"

# ------------------------------------------------- failures leave no file
expect "prune: unknown layer" 1 "edagari: error: edagari prune: prune layer=conv7: model simplecnn has no such node" \
  "its layers are: conv1, conv2, fc1, fc2" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --layer conv7 --amount 1
no_file "prune: unknown layer" "$m/x.edg"
expect "prune: all channels" 1 "would remove 4 of the 4 channels" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --layer conv1 --amount 4
no_file "prune: all channels" "$m/x.edg"
expect "prune: output layer" 1 "'fc2' is the model's output" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --layer fc2 --amount 1
no_file "prune: output layer" "$m/x.edg"
expect "train: bad label (fails while training)" 1 "label 42 of sample 2" -- \
  "$bin" train --model "$spec" --data "$tmp/bad-label" --out "$m/x.edg" --no-progress
no_file "train: bad label" "$m/x.edg"
expect "train: missing data" 1 "$tmp/nowhere: cannot open the data folder: no such folder" -- \
  "$bin" train --model "$spec" --data "$tmp/nowhere" --out "$m/x.edg"
no_file "train: missing data" "$m/x.edg"
expect "train: --out in a missing folder" 1 "model file $tmp/nodir/x.edg: folder $tmp/nodir" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$tmp/nodir/x.edg"
grep -q '^\[train\]' "$tmp/out" && bad "train: --out in a missing folder: training ran first" || ok
expect "train: --out is a folder" 1 "expected a file name, found a folder" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m"
expect "run --save in a missing folder" 1 "model file $tmp/nodir/r.edg: folder" -- \
  "$bin" run "$tmp/prune.recipe" --save "$tmp/nodir/r.edg"
expect "--out and --json the same" 1 "the model file and the JSON report would be the same file" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --json "$m/x.edg" --layer conv1 --amount 1
no_file "--out and --json the same" "$m/x.edg"

# damaged model files: a clear message with the byte offset, nothing written
head -c 3000 "$m/m.edg" >"$m/cut.edg"
expect "finetune: truncated file" 1 "$m/cut.edg: byte 3000: truncated: the file ends after 3000 bytes" -- \
  "$bin" finetune "$m/cut.edg" --data "$tmp/tiny" --out "$m/x.edg"
no_file "finetune: truncated file" "$m/x.edg"
cp "$m/m.edg" "$m/flip.edg"
printf 'X' | dd of="$m/flip.edg" bs=1 seek=5000 conv=notrunc 2>/dev/null
expect "eval: damaged file" 1 "$m/flip.edg: byte 32: checksum" "the file is damaged" -- "$bin" eval "$m/flip.edg" --data "$tmp/tiny"
expect "info: damaged file" 1 "$m/flip.edg: byte 32: checksum" -- "$bin" info "$m/flip.edg"
cp "$spec" "$m/spec.edg"
expect "info: a spec named .edg" 1 "byte 0: not an edagari model file" "(text: a model spec?)" -- "$bin" info "$m/spec.edg"
expect "prune: missing file" 1 "$m/none.edg: cannot open model file" -- "$bin" prune "$m/none.edg" --out "$m/x.edg" --layer conv1 --amount 1
no_file "prune: missing file" "$m/x.edg"
# a failed replace leaves the old file as it was
cp "$m/f.edg" "$m/keep.edg"
expect "finetune: failure keeps the old file" 1 "label 42" -- \
  "$bin" finetune "$m/keep.edg" --data "$tmp/bad-label" --out "$m/keep.edg" --no-progress
cmp -s "$m/f.edg" "$m/keep.edg" && ok || bad "a failed finetune changed the file it would have replaced"

# ---------------------------------------------------------- usage errors
for c in train prune finetune eval; do
  expect "$c --help" 0 "usage: edagari $c" -- "$bin" "$c" --help
done
expect "train: no --out" 2 "edagari train: no --out FILE given" "usage: edagari train" -- "$bin" train --model "$spec"
expect "train: no --model" 2 "edagari train: no model given" -- "$bin" train --out "$m/x.edg"
expect "train: a positional model" 2 "unexpected argument '$spec'" -- "$bin" train "$spec" --out "$m/x.edg"
expect "train: --epochs x" 2 "edagari train: epochs: expected an integer from 0 to 10000, found 'x'" "usage: edagari train" -- \
  "$bin" train --model "$spec" --out "$m/x.edg" --epochs x
expect "train: --optimizer rmsprop" 2 "optimizer: expected adam or sgd, found 'rmsprop'" -- \
  "$bin" train --model "$spec" --out "$m/x.edg" --optimizer rmsprop
expect "train: --lr twice" 2 "--lr given twice" -- "$bin" train --model "$spec" --out "$m/x.edg" --lr 0.1 --lr 0.2
expect "train: --lr without a value" 2 "--lr needs a value" -- "$bin" train --model "$spec" --out "$m/x.edg" --lr
expect "train: --seed abc" 2 "--seed: expected an integer" "usage: edagari train" -- "$bin" train --model "$spec" --out "$m/x.edg" --seed abc
expect "train: a value with a space" 2 "a value has no spaces" -- "$bin" train --model "$spec" --out "$m/x.edg" --lr "0.1 epochs=9"
expect "eval: --lr" 2 "--lr is not an option of edagari eval" -- "$bin" eval "$m/m.edg" --lr 0.1
expect "eval: unknown flag" 2 "unexpected argument '--frob'" -- "$bin" eval "$m/m.edg" --frob
expect "eval: no model" 2 "no model file given" -- "$bin" eval
expect "finetune: a spec" 2 "$spec is a model spec, not a model file (.edg)" "edagari train --model SPEC" -- \
  "$bin" finetune "$spec" --out "$m/x.edg"
expect "prune: no layer" 2 "edagari prune: prune needs layer=<node> and amount=<count or fraction>" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --amount 1
expect "prune: --amount abc" 2 "amount: expected a channel count" "found 'abc'" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --layer conv1 --amount abc
expect "prune: --method bogus" 2 "method: expected one of" "found 'bogus'" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --layer conv1 --amount 1 --method bogus
expect "prune: magnitude with --layer" 2 "prune method=magnitude needs amount=" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --method magnitude --amount 0.5 --layer conv1
no_file "usage errors" "$m/x.edg"
expect "info: usage" 2 "usage: edagari info SPEC|M.edg" -- "$bin" info
expect "run --save without a value" 2 "--save needs a value" -- "$bin" run "$tmp/prune.recipe" --save

finish
