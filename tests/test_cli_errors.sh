# CLI error tests: bad flags, specs, recipes, data and --json paths through the edagari binary.
# usage: bash test_cli_errors.sh <edagari binary> <source dir> <build test dir>
# Each case must exit with the right status and a message that says where
# and what; all data is made here, in a temporary folder.
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=cli_errors
make_tmp eg_cli_errors

# ---------------------------------------------------------------- data
# A tiny MNIST-layout folder: 64 training and 32 test images of 28x28, built
# from a 256-byte ramp so every image differs, labels 0..9 in turn (lib.sh).
mkset "$tmp/tiny" 64 32 28 28
[ "$(stat -c %s "$tmp/tiny/train-images-idx3-ubyte")" = $((16 + 64 * 784)) ] && ok || bad "tiny set has the wrong size"

recipe() { # recipe NAME LINE... : a recipe for SimpleCNN with these lines
  local f="$tmp/$1.recipe"
  shift
  { echo "model $src/models/simplecnn"; printf '%s\n' "$@"; } >"$f"
  echo "$f"
}

# ------------------------------------------------------------------ CLI
expect "no command" 2 "usage: edagari" -- "$bin"
expect "unknown command" 2 "unknown command 'frobnicate'" "usage: edagari" "commands:" -- "$bin" frobnicate
# the variant that runs: the best this CPU has, or the one EG_ISA forces (the CI's lower-ISA stages)
expect "--version" 0 "edagari 0." "threads  " "kernels  $("$bin" info --isa | tr '\n' ' ' | sed 's/ $//') (${EG_ISA:-$("$bin" info --isa | head -n 1)} runs)" \
  -- "$bin" --version
expect "--version, a forced ISA" 0 "(generic runs)" -- env EG_ISA=generic "$bin" --version
r=$(recipe ok "eval batch=16")
expect "unknown flag" 2 "unexpected argument '--frob'" "usage: edagari run" -- "$bin" run "$r" --frob
expect "two recipes" 2 "unexpected argument" "usage: edagari run" -- "$bin" run "$r" "$r"
expect "no recipe" 2 "no recipe given" "usage: edagari run" -- "$bin" run
expect "--threads 0" 2 "--threads" "expected an integer from 1 to 1024, found '0'" "usage: edagari run" -- \
  "$bin" run "$r" --threads 0
expect "--threads 5000" 2 "found '5000'" "usage: edagari run" -- "$bin" run "$r" --threads 5000
expect "--seed abc" 2 "--seed" "found 'abc'" "usage: edagari run" -- "$bin" run "$r" --seed abc
expect "--seed -1" 2 "found '-1'" "usage: edagari run" -- "$bin" run "$r" --seed -1
expect "--seed without a value" 2 "--seed" "(nothing)" "usage: edagari run" -- "$bin" run "$r" --seed
expect "--json without a value" 2 "--json needs a value" "usage: edagari run" -- "$bin" run "$r" --json
expect "info without a spec" 2 "usage: edagari info" -- "$bin" info
expect "run --help" 0 "usage: edagari run" "--json FILE" -- "$bin" run --help

# ----------------------------------------------------------- model specs
spec() { printf '%s\n' "$2" >"$tmp/$1.spec"; echo "$tmp/$1.spec"; }
s=$(spec unknown-op "input x shape=1x8x8
conv3d c out=2 kernel=3")
expect "spec: unknown op" 1 "edagari: error: $s:2:1: unknown op 'conv3d'" "expected one of" -- "$bin" info "$s"
s=$(spec unknown-attr "input x shape=1x8x8
conv2d c out=2 kernel=3 groups=2")
expect "spec: unknown attribute" 1 "$s:2:25: op conv2d has no attribute 'groups'" -- "$bin" info "$s"
s=$(spec missing-attr "input x shape=1x8x8
conv2d c kernel=3")
expect "spec: missing attribute" 1 "$s:2:1: op conv2d needs 'out='" -- "$bin" info "$s"
s=$(spec bad-int "input x shape=1x8x8
conv2d c out=4 kernel=three")
expect "spec: bad integer" 1 "$s:2:23: kernel: expected a non-negative integer" "found 'three'" -- "$bin" info "$s"
s=$(spec dup "input x shape=1x8x8
flatten f
linear f out=2")
expect "spec: duplicate name" 1 "$s:3:8: node 'f' is defined twice (first on line 2)" -- "$bin" info "$s"
s=$(spec unknown-in "input x shape=1x8x8
flatten f in=y
linear l out=2")
expect "spec: in= unknown" 1 "$s:2:14: in: no node named 'y'" -- "$bin" info "$s"
s=$(spec big-kernel "input x shape=1x4x4
conv2d c out=2 kernel=7 pad=1
flatten f
linear l out=2")
expect "spec: kernel too big" 1 "$s:2: conv2d c: kernel 7 does not fit the 1x4x4 input with padding 1" -- "$bin" info "$s"
s=$(spec no-flatten "input x shape=1x8x8
conv2d c out=2 kernel=3
linear l out=2")
expect "spec: linear without flatten" 1 "$s:3: linear l: needs flat features" "hint: put a flatten node" -- \
  "$bin" info "$s"
s=$(spec not-flat "input x shape=1x8x8
conv2d c out=2 kernel=3")
expect "spec: last node not flat" 1 "$s:2: the last node 'c' must give flat class scores" "2x6x6" -- "$bin" info "$s"
s=$(spec empty "")
expect "spec: empty" 1 "$s: expected an input node and at least one op, found 0 node(s)" -- "$bin" info "$s"
expect "spec: missing file" 1 "$tmp/nope.spec: cannot open model spec" -- "$bin" info "$tmp/nope.spec"
expect "spec: a folder" 1 "$tmp" -- "$bin" info "$tmp"

# ---------------------------------------------------------------- recipes
# A layer that does not exist must fail before the data is read or any
# training starts, even with the real MNIST (60,000 images) to load.
mnist=$src/data/mnist
r=$(recipe no-layer "train epochs=1 batch=64" "prune layer=conv7 amount=1" "eval")
t0=$(date +%s%N)
expect "recipe: unknown layer" 1 "$r:3: prune layer=conv7: model simplecnn has no such node" \
  "its layers are: conv1, conv2, fc1, fc2" -- "$bin" run "$r" --data "$mnist" --no-progress
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1000 ] && ok || bad "recipe: unknown layer took $ms ms; it should fail before loading data or training"
grep -q '^\[train\]' "$tmp/out" && bad "recipe: unknown layer: a stage ran" || ok

r=$(recipe all-channels "train epochs=1" "prune layer=conv1 amount=4")
expect "recipe: amount=4 on conv1" 1 "$r:3: prune amount=4 would remove 4 of the 4 channels layer conv1 has" \
  "at most 3" -- "$bin" run "$r" --data "$tmp/tiny"
r=$(recipe fraction-all "train epochs=1" "prune layer=conv1 amount=0.9")
expect "recipe: amount=0.9 on conv1" 1 "$r:3: prune amount=0.9 would remove 4 of the 4 channels" -- \
  "$bin" run "$r" --data "$tmp/tiny"
r=$(recipe amount0 "prune layer=conv1 amount=0")
expect "recipe: amount=0" 1 "$r:2:19: amount: expected a channel count" "found '0'" -- "$bin" run "$r" --data "$tmp/tiny"
r=$(recipe amount-neg "prune layer=conv1 amount=-1")
expect "recipe: amount=-1" 1 "$r:2:19: amount:" "found '-1'" -- "$bin" run "$r" --data "$tmp/tiny"
r=$(recipe amount-big "prune layer=conv1 amount=1.5")
expect "recipe: amount=1.5" 1 "$r:2:19: amount:" "fraction between 0 and 1" "found '1.5'" -- \
  "$bin" run "$r" --data "$tmp/tiny"
r=$(recipe unknown-stage "distill epochs=1")
expect "recipe: unknown stage" 1 "$r:2:1: unknown line 'distill'; expected model, data, normalize, validation, train, prune or eval" -- \
  "$bin" run "$r" --data "$tmp/tiny"
r=$(recipe unknown-key "train epochs=1 learning_rate=0.1")
expect "recipe: unknown key" 1 "$r:2:16: train has no key 'learning_rate'" -- "$bin" run "$r" --data "$tmp/tiny"
r=$(recipe bad-optim "train optimizer=rmsprop")
expect "recipe: bad optimizer" 1 "$r:2:7: optimizer: expected adam or sgd, found 'rmsprop'" -- \
  "$bin" run "$r" --data "$tmp/tiny"
printf 'data %s\ntrain epochs=1\n' "$tmp/tiny" >"$tmp/no-model.recipe"
expect "recipe: no model line" 1 "$tmp/no-model.recipe: no 'model <spec>' line" -- \
  "$bin" run "$tmp/no-model.recipe"
r=$(recipe output-layer "train epochs=1" "prune layer=fc2 amount=1")
expect "recipe: prune fc2" 1 "$r:3:" "'fc2' is the model's output" -- "$bin" run "$r" --data "$tmp/tiny"
r=$(recipe ok "eval batch=16")
expect "recipe: missing data folder" 1 "$tmp/nowhere: cannot open the data folder: no such folder" "hint: fetch MNIST with scripts/fetch_mnist.sh or pass --data DIR" -- \
  "$bin" run "$r" --data "$tmp/nowhere"
expect "recipe: missing file" 1 "$tmp/nope.recipe: cannot open recipe" -- "$bin" run "$tmp/nope.recipe"

# ---------------------------------------------------------- data problems
mkset "$tmp/small-images" 8 8 3 4
expect "data: 3x4 images for a 28x28 model" 1 "takes 1x28x28 inputs but the data has 1x3x4 images: $tmp/small-images/" -- \
  "$bin" run "$r" --data "$tmp/small-images" --no-progress
mkdir -p "$tmp/bad-label"
images 8 28 28 >"$tmp/bad-label/train-images-idx3-ubyte"
labels 8 >"$tmp/bad-label/train-labels-idx1-ubyte"
images 8 28 28 >"$tmp/bad-label/t10k-images-idx3-ubyte"
labels 8 40 >"$tmp/bad-label/t10k-labels-idx1-ubyte"   # sample 2 is class 42
expect "data: label 42" 1 "$tmp/bad-label/t10k-labels-idx1-ubyte: byte 10: label 42 of sample 2 is outside the model's 10 outputs (0 to 9)" -- \
  "$bin" run "$r" --data "$tmp/bad-label" --no-progress
mkset "$tmp/count" 8 8 28 28
labels 7 >"$tmp/count/t10k-labels-idx1-ubyte"
expect "data: 8 images, 7 labels" 1 "$tmp/count/t10k-images-idx3-ubyte holds 8 images but" \
  "$tmp/count/t10k-labels-idx1-ubyte holds 7 labels" -- "$bin" run "$r" --data "$tmp/count"
mkset "$tmp/cut" 8 8 28 28
head -c 1000 "$tmp/tiny/train-images-idx3-ubyte" >"$tmp/cut/train-images-idx3-ubyte"
expect "data: truncated images" 1 "$tmp/cut/train-images-idx3-ubyte: truncated: payload is 984 bytes" "need 50176" \
  "byte offset 1000" -- "$bin" run "$r" --data "$tmp/cut"
mkset "$tmp/gz" 64 32 28 28
gzip "$tmp/gz"/*
expect "data: gzipped set" 0 "64 train / 32 test images of 1x28x28" -- "$bin" run "$r" --data "$tmp/gz" --no-progress
# keep the gzip header and half the stream, then garbage
gz=$tmp/gz/t10k-images-idx3-ubyte.gz
head -c $(($(stat -c %s "$gz") / 2)) "$gz" >"$tmp/x" && printf 'not deflate data at all' >>"$tmp/x"
mv "$tmp/x" "$gz"
expect "data: corrupt gzip" 1 "$gz:" "gzip stream" -- "$bin" run "$r" --data "$tmp/gz"

# ----------------------------------------------------------- JSON reports
full=$(recipe full "train epochs=1 batch=16" "eval batch=16" "prune layer=conv1 amount=2" "eval batch=16")
mkdir "$tmp/reports"
t0=$(date +%s%N)
expect "json: a good run" 0 "report written to $tmp/reports/run.json" "params 26138 -> 25974" -- \
  "$bin" run "$full" --data "$tmp/tiny" --json "$tmp/reports/run.json" --no-progress --seed 3
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 5000 ] && ok || bad "json: the tiny run took $ms ms"
[ -s "$tmp/reports/run.json" ] && ok || bad "json: no report"
head -c 1 "$tmp/reports/run.json" | grep -q '{' && tail -c 2 "$tmp/reports/run.json" | grep -q '}' && ok ||
  bad "json: the report is not one object"
grep -q '"params_after": 25974' "$tmp/reports/run.json" && ok || bad "json: the report lacks params_after 25974"
[ "$(ls "$tmp/reports")" = run.json ] && ok || bad "json: left beside the report: $(ls "$tmp/reports")"

expect "json: missing folder" 1 "--json $tmp/no-such-dir/run.json" "No such file or directory" -- \
  "$bin" run "$full" --data "$tmp/tiny" --json "$tmp/no-such-dir/run.json" --no-progress
grep -q '^\[train\]' "$tmp/out" && bad "json: missing folder: training ran before the report path was checked" || ok
[ ! -e "$tmp/no-such-dir" ] && ok || bad "json: the missing folder was created"
ls "$tmp" | grep -q tmp && bad "json: a temporary file was left in $tmp: $(ls "$tmp" | grep tmp)" || ok
expect "json: a folder as the file" 1 "expected a file name, found a folder" -- \
  "$bin" run "$full" --data "$tmp/tiny" --json "$tmp/reports" --no-progress
# a run that fails part way writes no report at all
expect "json: failed run" 1 "label 42 of sample 2" -- \
  "$bin" run "$full" --data "$tmp/bad-label" --json "$tmp/reports/failed.json" --no-progress
[ "$(ls "$tmp/reports")" = run.json ] && ok || bad "json: a failed run left: $(ls "$tmp/reports")"
# replacing an existing report leaves the new one and nothing else
cp "$tmp/reports/run.json" "$tmp/old.json"
expect "json: replacing a report" 0 "report written" -- \
  "$bin" run "$full" --data "$tmp/tiny" --json "$tmp/reports/run.json" --no-progress --seed 4
cmp -s "$tmp/old.json" "$tmp/reports/run.json" && bad "json: the report was not replaced" || ok
[ "$(ls "$tmp/reports")" = run.json ] && ok || bad "json: left beside the report: $(ls "$tmp/reports")"

# ------------------------------------------------- hostile model files
# the committed cases (tests/fixtures/make_bad_edg.py): each an error that
# names the file and the byte offset, from info and from finetune
while IFS=$'\t' read -r f at phrase; do
  [ "${f:0:1}" = "#" ] && continue
  expect "bad_edg/$f: info" 1 "edagari: error: $src/tests/fixtures/bad_edg/$f: byte $at: " "$phrase" -- \
    "$bin" info "$src/tests/fixtures/bad_edg/$f"
done <"$src/tests/fixtures/bad_edg/expected.txt"
expect "bad_edg: finetune" 1 "wrong-version.edg: byte 8: format version" -- \
  "$bin" finetune "$src/tests/fixtures/bad_edg/wrong-version.edg" --data "$tmp/tiny" --out "$tmp/never.edg"
no_file "bad_edg: finetune" "$tmp/never.edg"

finish
