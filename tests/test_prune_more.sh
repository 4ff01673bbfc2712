# The later pruning methods through the edagari binary on a tiny crafted IDX
# set: penalty and AGP flags on train and finetune (the same file as the
# recipe keys), lsh merging and layer removal with edagari prune, protect=
# and floor=, and the clear errors for bad amounts, schedules and layers.
# usage: bash test_prune_more.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=prune_more
make_tmp eg_prune_more
need_jq

mkset "$tmp/tiny" 64 32
spec=$src/models/simplecnn
m=$tmp/models
mkdir "$m" "$tmp/x1" "$tmp/x2" "$tmp/x3"
# same_params A B: the two model files' parameters agree bit for bit (their
# C exports under one name are the same bytes; histories may differ)
same_params() {
  "$bin" export --format c --out "$tmp/x1/net" "$1" >/dev/null 2>&1 && "$bin" export --format c --out "$tmp/x2/net" "$2" >/dev/null 2>&1 \
    && cmp -s "$tmp/x1/net.c" "$tmp/x2/net.c"
}
"$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/m.edg" --batch 16 --no-progress >/dev/null 2>&1 && ok || bad "train m.edg"

# ------------------------------------------------------ penalty flags
expect "train --l1 --l2 --penalize" 0 "penalty l1 0.001, l2 0.01 on the weights of fc1,fc2" "= cross-entropy" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/pen.edg" --batch 16 --l1 0.001 --l2 0.01 --penalize fc1,fc2 --no-progress
printf 'model %s\ndata %s\ntrain batch=16 l1=0.001 l2=0.01 penalize=fc1,fc2\n' "$spec" "$tmp/tiny" >"$tmp/pen.recipe"
"$bin" run "$tmp/pen.recipe" --save "$m/pen-r.edg" --no-progress >/dev/null 2>&1
same_params "$m/pen.edg" "$m/pen-r.edg" && ok || bad "train --l1 --l2 --penalize and the recipe's keys gave different parameters"
"$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/plain.edg" --batch 16 --no-progress >/dev/null 2>&1
same_params "$m/pen.edg" "$m/plain.edg" && bad "the penalty flags changed nothing" || ok
expect "finetune --prox" 0 "penalty prox 0.5 on the weights of every conv2d and linear" -- \
  "$bin" finetune "$m/m.edg" --data "$tmp/tiny" --out "$m/prox.edg" --batch 16 --prox 0.5 --lr 0.01 --json "$tmp/prox.json" --no-progress
[ "$(jq '.stages[0].prox' "$tmp/prox.json")" = 0.5 ] && ok || bad "finetune --prox: the report has no prox 0.5"
printf 'model %s\ndata %s\ntrain batch=16 prox=0.5 lr=0.01\n' "$m/m.edg" "$tmp/tiny" >"$tmp/prox.recipe"
"$bin" run "$tmp/prox.recipe" --save "$m/prox-r.edg" --no-progress >/dev/null 2>&1
same_params "$m/prox.edg" "$m/prox-r.edg" && ok || bad "finetune --prox and the recipe's prox= gave different parameters"
expect "train --l1 -1" 2 "l1: expected a non-negative number, found '-1'" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/x.edg" --l1 -1
expect "finetune --penalize alone" 2 "no penalty to apply" -- "$bin" finetune "$m/m.edg" --out "$m/x.edg" --penalize fc1
expect "train --penalize unknown" 1 "penalize=fc9: 'fc9' is not a node of the model" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/x.edg" --l2 0.1 --penalize fc9
expect "eval --l1" 2 "--l1 is not an option of edagari eval" -- "$bin" eval "$m/m.edg" --l1 0.1
no_file "penalty errors" "$m/x.edg"

# ------------------------------------------------------------- agp flags
# 64 images in batches of 16: 4 steps an epoch; 2 epochs, pruning at 2, 4, 6, 8
expect "train --agp" 0 "[agp] global magnitude pruning to 80.0%" "agp step 2: target sparsity 46.25%" "agp step 8: target sparsity 80.00%" \
  "agp: 4 pruning steps" "(80.00% sparse)" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/agp.edg" --batch 16 --epochs 2 --agp 0.8 --agp-end 8 --agp-every 2 --no-progress
# with checkpoints as well: both callbacks run after every step (pruning first)
expect "train --agp --checkpoint" 0 "agp step 8: target sparsity 80.00%" "(80.00% sparse)" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/agpck.edg" --batch 16 --epochs 2 --agp 0.8 --agp-end 8 --agp-every 2 \
  --checkpoint "$m/agp.ck" --checkpoint-every 3 --no-progress
[ -s "$m/agp.ck" ] && ok || bad "train --agp --checkpoint: no checkpoint written"
same_params "$m/agp.edg" "$m/agpck.edg" && ok || bad "checkpoints changed what agp training gives"
expect "info agp.edg" 0 "masks: yes" "agp during training: global magnitude pruning to 80.0%, steps 0..8 every 2" -- "$bin" info "$m/agp.edg"
expect "finetune --agp local, protected" 0 "[agp] local magnitude pruning to 50.0% of the weights of every conv2d and linear" -- \
  "$bin" finetune "$m/m.edg" --data "$tmp/tiny" --out "$m/agp2.edg" --batch 16 --agp 0.5 --agp-start 1 --agp-end 3 --agp-every 1 \
  --agp-scope local --protect fc2 --json "$tmp/agp2.json" --no-progress
"$bin" info "$m/agp2.edg" >"$tmp/info2" 2>&1
grep -E '^ *fc2 ' "$tmp/info2" | grep -q ' 0.0%' && ok || { bad "protect=fc2: fc2 was pruned"; cat "$tmp/info2" >&2; }
grep -E '^ *fc1 ' "$tmp/info2" | grep -q ' 50.0%' && ok || { bad "agp local: fc1 is not 50% sparse"; cat "$tmp/info2" >&2; }
expect "agp without end" 2 "agp=0.9 needs agp_end=" -- "$bin" train --model "$spec" --out "$m/x.edg" --agp 0.9
expect "agp end not a whole number of intervals" 1 "must be a whole number of pruning intervals of 3 steps" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/x.edg" --batch 16 --agp 0.9 --agp-end 4 --agp-every 3
expect "agp end past the stage" 1 "agp_end=10 is past the stage's last step" "is 4 steps" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/x.edg" --batch 16 --agp 0.9 --agp-end 10 --agp-every 1
expect "agp 1.0" 2 "agp: expected a sparsity" -- "$bin" train --model "$spec" --out "$m/x.edg" --agp 1.0 --agp-end 4
expect "agp keys without agp" 2 "go with agp=" -- "$bin" train --model "$spec" --out "$m/x.edg" --agp-end 4
no_file "agp errors" "$m/x.edg"

# ------------------------------------------------------------- lsh merging
# a barely trained model has no near-twins: a low threshold and coarse hashes find some pairs
expect "prune lsh" 0 "[prune] lsh on fc1: 2 bits x 8 tables, cosine >= 0.05" "merged" "model saved to $m/lsh.edg" -- \
  "$bin" prune "$m/m.edg" --out "$m/lsh.edg" --method lsh --layer fc1 --amount 5 --bits 2 --threshold 0.05 --json "$tmp/lsh.json"
n=$(jq '.stages[0].merged' "$tmp/lsh.json")
[ "$n" -ge 1 ] && [ "$n" -le 5 ] && ok || bad "lsh merged $n units; expected 1..5"
[ "$(jq '.model_after.layers[2].output[0]' "$tmp/lsh.json")" = $((64 - n)) ] && ok || bad "fc1 does not have $((64 - n)) outputs"
expect "eval lsh.edg" 0 "[eval] test accuracy" -- "$bin" eval "$m/lsh.edg" --data "$tmp/tiny"
expect "lsh output layer" 1 "'fc2' is the model's output" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --method lsh --layer fc2 --amount 2
expect "lsh threshold 0" 2 "threshold: expected a cosine similarity above 0" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --method lsh --layer fc1 --amount 2 --threshold 0
expect "lsh bits 40" 2 "bits: expected an integer from 1 to 32" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --method lsh --layer fc1 --amount 2 --bits 40
expect "lsh without amount" 2 "prune method=lsh needs layer=" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --method lsh --layer fc1
expect "bits without lsh" 2 "go with method=lsh" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --layer fc1 --amount 2 --bits 4
no_file "lsh errors" "$m/x.edg"

# ---------------------------------------------------------- layer removal
deep=$src/models/deepcnn
"$bin" train --model "$deep" --data "$tmp/tiny" --out "$m/deep.edg" --batch 16 --no-progress >/dev/null 2>&1 && ok || bad "train deepcnn"
expect "prune layer conv3" 0 "[prune] layer conv3: replaced by the identity" "removed conv3; params 60938 -> 58618" -- \
  "$bin" prune "$m/deep.edg" --out "$m/d1.edg" --method layer --layer conv3
expect "info d1.edg" 0 "58618 parameters" -- "$bin" info "$m/d1.edg"
# reads_from NODE INPUT: in the model table of $tmp/out, NODE's input is INPUT
reads_from() { awk -v n="$1" -v i="$2" '$1 == n && $3 == i { found = 1 } END { exit !found }' "$tmp/out"; }
reads_from relu3 relu2 && ok || bad "after removing conv3, relu3 does not read relu2"
expect "eval d1.edg" 0 "[eval] test accuracy" -- "$bin" eval "$m/d1.edg" --data "$tmp/tiny"
expect "prune layer count 2" 0 "the 2 cheapest of 3 removable layers, by test accuracy" "removed" -- \
  "$bin" prune "$m/deep.edg" --out "$m/d2.edg" --method layer --count 2 --data "$tmp/tiny" --json "$tmp/layer.json"
[ "$(jq '.stages[0].removed | length' "$tmp/layer.json")" = 2 ] && ok || bad "count=2 did not remove 2 layers"
[ "$(jq '.stages[0].ranking | length' "$tmp/layer.json")" = 3 ] && ok || bad "the ranking does not list conv3, conv4, fc2"
expect "prune layer count, protected" 0 "the 1 cheapest of 2 removable layers" -- \
  "$bin" prune "$m/deep.edg" --out "$m/d3.edg" --method layer --count 1 --protect fc2 --data "$tmp/tiny"
expect "layer: output layer" 1 "'fc3' is the model's output layer" -- "$bin" prune "$m/deep.edg" --out "$m/x.edg" --method layer --layer fc3
expect "layer: shape-changing" 1 "'conv2' maps 8x14x14 to 16x14x14" -- "$bin" prune "$m/deep.edg" --out "$m/x.edg" --method layer --layer conv2
expect "layer: too many" 1 "has only 3 removable layers" -- "$bin" prune "$m/deep.edg" --out "$m/x.edg" --method layer --count 4 --data "$tmp/tiny"
expect "layer: both" 2 "needs either layer=" -- "$bin" prune "$m/deep.edg" --out "$m/x.edg" --method layer --layer conv3 --count 1
expect "layer: simplecnn has none" 1 "has only 0 removable layers" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --method layer --count 1 --data "$tmp/tiny"
no_file "layer errors" "$m/x.edg"
# a residual branch (models/resnet_small): the branch and its add go, relu1 reads the skip
res=$src/models/resnet_small
"$bin" train --model "$res" --data "$tmp/tiny" --out "$m/res.edg" --batch 16 --no-progress >/dev/null 2>&1 && ok || bad "train resnet_small"
expect "prune residual branch" 0 "[prune] layer res1: its residual branch replaced by zero" "removed res1 (with its branch)" -- \
  "$bin" prune "$m/res.edg" --out "$m/r1.edg" --method layer --layer res1
expect "info r1.edg" 0 "6170 parameters" -- "$bin" info "$m/r1.edg"
reads_from relu1 pool0 && ok || bad "after removing res1's branch, relu1 does not read pool0"
grep -q "conv1a" "$tmp/out" && bad "conv1a is still in the pruned model" || ok
expect "eval r1.edg" 0 "[eval] test accuracy" -- "$bin" eval "$m/r1.edg" --data "$tmp/tiny"
expect "prune residual count" 0 "the 2 cheapest of 6 removable layers" "res1" "res3" "conv1a" \
  "removed with a branch" -- \
  "$bin" prune "$m/res.edg" --out "$m/r2.edg" --method layer --count 2 --data "$tmp/tiny"
# a validation split: held out of the training set, ranked on instead of the test set
expect "prune layer count --validation" 0 "validation: 16 of the training images held out (chosen with seed 0), 48 left" \
  "by validation accuracy with each removed alone (16 images" -- \
  "$bin" prune "$m/res.edg" --out "$m/r3.edg" --method layer --count 2 --data "$tmp/tiny" --validation 16
expect "train --validation" 0 "56 left to train on" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/v.edg" --batch 16 --validation 8 --no-progress
printf 'model %s\ndata %s\nvalidation images=8\ntrain batch=16\n' "$spec" "$tmp/tiny" >"$tmp/v.recipe"
"$bin" run "$tmp/v.recipe" --save "$m/v-r.edg" --no-progress >/dev/null 2>&1
same_params "$m/v.edg" "$m/v-r.edg" && ok || bad "train --validation and the recipe's validation line gave different parameters"
same_params "$m/v.edg" "$m/plain.edg" && bad "holding images out changed nothing" || ok
expect "--validation all" 1 "holding out 64 of its 64 images; expected 1 to 63" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/x.edg" --validation 64
expect "--validation 0" 2 "validation: images: expected a positive integer, found '0'" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$m/x.edg" --validation 0
printf 'model %s\ndata %s\nvalidation 8\ntrain\n' "$spec" "$tmp/tiny" >"$tmp/v.recipe"
expect "recipe: validation 8" 1 "v.recipe:3:12: validation: expected images=N" -- "$bin" run "$tmp/v.recipe"
expect "layer: a relu" 1 "'relu1' is a relu" -- "$bin" prune "$m/res.edg" --out "$m/x.edg" --method layer --layer relu1
no_file "residual errors" "$m/x.edg"

# -------------------------------------------- scope: protect, floor, amounts
expect "magnitude --protect" 0 "model saved" -- "$bin" prune "$m/m.edg" --out "$m/p.edg" --method magnitude --amount 0.9 --protect fc2,conv1 --json "$tmp/p.json"
[ "$(jq '[.stages[0].layers[] | select(.name == "fc2" or .name == "conv1") | .weights - .nonzeros] | add' "$tmp/p.json")" = 0 ] && ok \
  || bad "protected layers lost weights"
[ "$(jq '.stages[0].layers[] | select(.name == "fc1") | .nonzeros < .weights' "$tmp/p.json")" = true ] && ok || bad "fc1 was not pruned"
# 95% global: without a floor conv1 (36 weights) could go entirely; the default floor keeps one
expect "global 0.999, default floor" 0 "model saved" -- "$bin" prune "$m/m.edg" --out "$m/f.edg" --method magnitude --amount 0.999 --json "$tmp/f.json"
[ "$(jq '[.stages[0].layers[] | .nonzeros >= 1] | all' "$tmp/f.json")" = true ] && ok || bad "a layer was emptied"
[ "$(jq '.stages[0].weights - .stages[0].nonzeros' "$tmp/f.json")" = "$(jq '.stages[0].weights * 0.999 | round' "$tmp/f.json")" ] && ok || bad "global 0.999 masked the wrong count"
expect "floor 20" 0 "model saved" -- "$bin" prune "$m/m.edg" --out "$m/f2.edg" --method magnitude --amount 0.99 --floor 20 --json "$tmp/f2.json"
[ "$(jq '[.stages[0].layers[] | .nonzeros >= 20] | all' "$tmp/f2.json")" = true ] && ok || bad "floor=20 not kept"
expect "floor too high" 1 "fewer than the layers' floors" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --method magnitude --amount 0.99 --floor 0.5
expect "local 0.99 empties conv1" 1 "would leave 0, below its floor of 1" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --method magnitude --amount 0.99 --scope local
expect "protect and layers" 1 "layers=fc1,fc2 names 'fc2', which protect=fc2 protects" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --method magnitude --amount 0.5 --layers fc1,fc2 --protect fc2
expect "protect everything" 1 "leaves no layer to prune" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --method magnitude --amount 0.5 --protect conv1,conv2,fc1,fc2
expect "protect unknown" 1 "protect=fc7: 'fc7' is not a node of the model" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --method magnitude --amount 0.5 --protect fc7
expect "protect with l1" 2 "protect= goes with method=magnitude, threshold or layer" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --layer conv1 --amount 1 --protect fc2
expect "floor with l1" 2 "floor= goes with method=magnitude" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --layer conv1 --amount 1 --floor 2
expect "floor 0" 2 "floor: expected the weights each layer keeps" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --method magnitude --amount 0.5 --floor 0
for a in -0.5 -1 1.5 1.0 0 abc; do
  expect "magnitude amount $a" 2 "amount:" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --method magnitude --amount "$a"
  expect "l1 amount $a" 2 "amount:" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --layer conv1 --amount "$a"
done
expect "magnitude amount 3 (a count)" 2 "prune method=magnitude needs amount=<fraction" -- \
  "$bin" prune "$m/m.edg" --out "$m/x.edg" --method magnitude --amount 3
expect "every channel" 1 "would remove 4 of the 4 channels" -- "$bin" prune "$m/m.edg" --out "$m/x.edg" --layer conv1 --amount 0.9
no_file "scope errors" "$m/x.edg"

# recipe errors name the file, line and column
printf 'model %s\nprune method=lsh layer=fc1 amount=2 count=3\n' "$spec" >"$tmp/bad1.recipe"
expect "recipe: count with lsh" 1 "bad1.recipe:2:1: count= goes with method=layer" -- "$bin" run "$tmp/bad1.recipe"
printf 'model %s\ntrain epochs=1 agp_every=0 agp=0.5 agp_end=4\n' "$spec" >"$tmp/bad2.recipe"
expect "recipe: agp_every 0" 1 "bad2.recipe:2:16: agp_every: expected a step count, an integer >= 1, found '0'" -- "$bin" run "$tmp/bad2.recipe"
finish
