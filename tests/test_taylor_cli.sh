# method=taylor through the binary: edagari prune --method taylor on weights
# and on channels, the same stage as a recipe line writing the same file,
# its log and report, and misuse (batches= with another method, no amount,
# missing data) as clear errors that leave no file.
# usage: bash test_taylor_cli.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=taylor_cli
make_tmp eg_taylor_cli
need_jq

mkset "$tmp/tiny" 64 32
spec=$src/models/simplecnn
"$bin" train --model "$spec" --data "$tmp/tiny" --out "$tmp/m.edg" --batch 16 --seed 3 --no-progress >/dev/null 2>&1 ||
  bad "train failed"

expect "taylor weights" 0 "[prune] taylor, |w x gradient| over 3 batches of 16, one threshold for all, 60.0% of the weights" \
  "model saved to $tmp/w.edg" -- \
  "$bin" prune "$tmp/m.edg" --out "$tmp/w.edg" --method taylor --amount 0.6 --batches 3 --batch 16 --data "$tmp/tiny" \
  --json "$tmp/w.json"
[ "$(jq -r '.stages[0].method + " " + (.stages[0].batches|tostring) + " " + (.stages[0].nonzeros|tostring) + "/" + (.stages[0].weights|tostring)' "$tmp/w.json")" = \
  "taylor 3 10421/26052" ] && ok || bad "taylor weights: report $(jq -c '.stages[0] | [.method, .batches, .nonzeros, .weights]' "$tmp/w.json")"
expect "taylor info" 0 "prune taylor, global, 60.0% of the weights of every conv2d and linear: 10421 of 26052 weights non-zero" -- \
  "$bin" info "$tmp/w.edg"

expect "taylor channels" 0 "[prune] taylor on conv2: removing 3 of 8 channels" "Taylor scores |mean z x dL/dz|:" "kept [" -- \
  "$bin" prune "$tmp/m.edg" --out "$tmp/c.edg" --method taylor --layer conv2 --amount 3 --batches 2 --data "$tmp/tiny"

# a recipe line gives the same bytes as the command
printf 'model %s\ndata %s\nprune method=taylor layer=conv2 amount=3 batches=2\n' "$tmp/m.edg" "$tmp/tiny" >"$tmp/t.recipe"
expect "taylor recipe" 0 "[prune] line 3: taylor on conv2" -- "$bin" run "$tmp/t.recipe" --save "$tmp/r.edg" --no-progress
cmp -s "$tmp/c.edg" "$tmp/r.edg" && ok || bad "the recipe and edagari prune wrote different files"

expect "batches with l1" 2 "batches= and batch= go with method=taylor; method=l1 does not take them" -- \
  "$bin" prune "$tmp/m.edg" --out "$tmp/x.edg" --layer conv2 --amount 3 --batches 2
expect "taylor count without layer" 2 "prune method=taylor needs layer=<node> amount=<count or fraction> (channels) or amount=<fraction of weights" -- \
  "$bin" prune "$tmp/m.edg" --out "$tmp/x.edg" --method taylor --amount 3
expect "taylor batches 0" 2 "batches: expected an integer >= 1, found '0'" -- \
  "$bin" prune "$tmp/m.edg" --out "$tmp/x.edg" --method taylor --amount 0.5 --batches 0
expect "taylor without data" 1 "$tmp/nowhere" -- \
  "$bin" prune "$tmp/m.edg" --out "$tmp/x.edg" --method taylor --amount 0.5 --data "$tmp/nowhere"
no_file "failures" "$tmp/x.edg"
printf 'model %s\ndata %s\nprune method=taylor scope=local layer=conv2 amount=2\n' "$spec" "$tmp/tiny" >"$tmp/bad.recipe"
expect "taylor channels with scope" 1 "bad.recipe:3:1: scope= and layers= go with method=taylor on weights (no layer=)" -- \
  "$bin" run "$tmp/bad.recipe"
finish
