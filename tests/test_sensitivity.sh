# edagari sensitivity on a tiny crafted IDX set: every layer x ratio in the
# JSON with accuracies in [0, 100]; the dense figures equal edagari eval's;
# every cell equals edagari prune (that layer, that amount) then edagari eval
# of the file it wrote, to the last bit of the loss (l1 on every cell; l2,
# fpgm, random and magnitude on some); a ratio that would remove every
# channel is left out as edagari prune refuses it; the SVG is well-formed
# XML with its axes, ticks, labels and legend; names are escaped; bad
# arguments exit 2 with the usage, failures 1 and leave no file.
# Needs jq (./edagari.sh installs it); xmllint is used when installed.
# usage: bash test_sensitivity.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=sensitivity
make_tmp eg_sensitivity
need_jq

# jqt NAME FILTER FILE...: the jq filter gives true (files bound as $a, $b, ...)
jqt() {
  local name=$1 filter=$2
  shift 2
  local args=() v=a f
  for f in "$@"; do args+=(--slurpfile "$v" "$f"); v=$(echo "$v" | tr a-y b-z); done
  local got
  got=$(jq -n "${args[@]}" "$filter" 2>&1)
  if [ "$got" = true ]; then ok; else bad "$name: $filter gives $got"; fi
}

# ---------------------------------------------------------------- data
# Ten 28x28 class prototypes (stripes whose direction and spacing depend on
# the class); 320 training and 40 test images of class i % 10. One epoch
# learns enough that pruning changes the accuracy and the loss.
for k in 0 1 2 3 4 5 6 7 8 9; do
  s=""
  for ((p = 0; p < 784; p++)); do
    r=$((p / 28)) c=$((p % 28))
    s+=$(printf '\\x%02x' $((((r * (k % 5 + 1) + c * (k / 5 + 1) * 2) % 9 < 4) * 220 + k * 3)))
  done
  printf "$s" >"$tmp/proto$k"
done
protoset() { # protoset DIR N PREFIX: the prototypes and labels 0..9 in turn (be32, labels: lib.sh)
  mkdir -p "$1"
  { be32 $((0x803)); be32 "$2"; be32 28; be32 28; for ((i = 0; i < $2; i++)); do cat "$tmp/proto$((i % 10))"; done; } >"$1/$3-images-idx3-ubyte"
  labels "$2" >"$1/$3-labels-idx1-ubyte"
}
# a folder name with XML's and JSON's special characters: the reports escape it
d="$tmp/set&<\"'>"
protoset "$d" 320 train
protoset "$d" 40 t10k
m=$tmp/m.edg
expect "train" 0 "model saved to $m" -- "$bin" train --model "$src/models/simplecnn" --data "$d" --out "$m" --batch 8 --seed 3 --no-progress

# ------------------------------------------------ l1: every cell checked
ratios="0.25,0.5,0.625,0.75"  # 0.625 x 4 channels = 2.5: rounds up, as edagari prune does
expect "sensitivity l1" 0 "edagari sensitivity: model $m (simplecnn, 26138 parameters" "method l1, 4 ratios" \
  "test accuracy (%) with one layer pruned by l1" "conv1" "conv2" "fc1" "channels removed" \
  "report written to $tmp/s.json" "plot written to $tmp/s.svg" -- \
  "$bin" sensitivity "$m" --data "$d" --ratios "$ratios" --json "$tmp/s.json" --svg "$tmp/s.svg" --threads 2
j=$tmp/s.json
jq -e . "$j" >/dev/null 2>&1 && ok || bad "s.json is not valid JSON"
jqt "method, ratios" '$a[0] | .method == "l1" and .granularity == "channels" and .ratios == [0.25, 0.5, 0.625, 0.75]' "$j"
jqt "layers" '[$a[0].layers[] | .name] == ["conv1", "conv2", "fc1"] and [$a[0].layers[] | .channels] == [4, 8, 64]' "$j"
jqt "every layer x ratio" '[$a[0].layers[] | .results | length] == [4, 4, 4] and
  all($a[0].layers[]; [.results[].ratio] == [0.25, 0.5, 0.625, 0.75])' "$j"
jqt "accuracies in [0, 100]" 'all($a[0].layers[].results[]; (.accuracy | type) == "number" and .accuracy >= 0 and .accuracy <= 100)' "$j"
jqt "params and MACs" 'all($a[0].layers[].results[]; .params > 0 and .params < 26138 and .macs > 0 and .macs < 110400)' "$j"
jqt "channels removed" '[$a[0].layers[] | [.results[].removed]] == [[1, 2, 3, 3], [2, 4, 5, 6], [16, 32, 40, 48]]' "$j"
jqt "data named as given" '$a[0].data == $b[0]' "$j" <(jq -n --arg d "$d" '$d')
jqt "the pruning changes something" '[$a[0].layers[].results[].loss] | unique | length > 1' "$j"
jq -e '[.layers[].results[].accuracy] | unique | length > 1' "$j" >/dev/null ||
  echo "note: every cell has the same accuracy on this data (the losses still differ)"

# the dense figures are edagari eval's
expect "eval" 0 "(as loaded)" -- "$bin" eval "$m" --data "$d" --json "$tmp/e.json"
jqt "dense accuracy = edagari eval" '$a[0].dense.accuracy == $b[0].stages[0].accuracy' "$j" "$tmp/e.json"
jqt "dense loss = edagari eval" '$a[0].dense.loss == $b[0].stages[0].loss' "$j" "$tmp/e.json"
jqt "dense params, MACs" '$a[0].dense.params == 26138 and $a[0].dense.macs == 110400' "$j"

# cell_matches NAME JSON LAYER_INDEX RATIO_INDEX PRUNE_ARGS...: edagari prune with
# those arguments, then edagari eval of its file, gives the cell's figures
cell_matches() {
  local name=$1 json=$2 l=$3 r=$4
  shift 4
  rm -f "$tmp/p.edg" "$tmp/p.json" "$tmp/pe.json"
  if ! "$bin" prune "$m" --out "$tmp/p.edg" --json "$tmp/p.json" "$@" >"$tmp/out" 2>&1; then
    bad "$name: edagari prune $* failed"; sed 's/^/    /' "$tmp/out" >&2; return
  fi
  if ! "$bin" eval "$tmp/p.edg" --data "$d" --json "$tmp/pe.json" >"$tmp/out" 2>&1; then
    bad "$name: edagari eval failed"; sed 's/^/    /' "$tmp/out" >&2; return
  fi
  jqt "$name: accuracy" "\$a[0].layers[$l].results[$r].accuracy == \$b[0].stages[0].accuracy" "$json" "$tmp/pe.json"
  jqt "$name: loss" "\$a[0].layers[$l].results[$r].loss == \$b[0].stages[0].loss" "$json" "$tmp/pe.json"
  if jq -e '.stages[0].method == "magnitude"' "$tmp/p.json" >/dev/null; then
    jqt "$name: MACs" "\$a[0].layers[$l].results[$r].macs == \$b[0].stages[0].macs_effective" "$json" "$tmp/p.json"
    jqt "$name: weights zeroed" "\$a[0].layers[$l].results[$r].removed == (\$b[0].stages[0].layers[] | select(.name == \$a[0].layers[$l].name) | .weights - .nonzeros)" "$json" "$tmp/p.json"
  else
    jqt "$name: params" "\$a[0].layers[$l].results[$r].params == \$b[0].stages[0].params_after" "$json" "$tmp/p.json"
    jqt "$name: MACs" "\$a[0].layers[$l].results[$r].macs == \$b[0].stages[0].macs_after" "$json" "$tmp/p.json"
    jqt "$name: removed" "\$a[0].layers[$l].results[$r].removed == (\$b[0].stages[0].pruned | length)" "$json" "$tmp/p.json"
  fi
}
li=0
for layer in conv1 conv2 fc1; do
  ri=0
  for ratio in ${ratios//,/ }; do
    cell_matches "l1 $layer $ratio" "$j" $li $ri --layer $layer --amount "$ratio"
    ri=$((ri + 1))
  done
  li=$((li + 1))
done

# the other criteria, on one layer (random: the same seed as edagari prune)
for method in l2 fpgm random; do
  expect "sensitivity $method" 0 "pruned by $method" -- \
    "$bin" sensitivity "$m" --data "$d" --method $method --layers fc1,conv2 --ratios 0.3,0.6 --seed 7 --json "$tmp/$method.json"
  jqt "$method: layers in the order given" '[$a[0].layers[].name] == ["fc1", "conv2"]' "$tmp/$method.json"
  cell_matches "$method fc1 0.6" "$tmp/$method.json" 0 1 --layer fc1 --amount 0.6 --method $method --seed 7
  cell_matches "$method conv2 0.3" "$tmp/$method.json" 1 0 --layer conv2 --amount 0.3 --method $method --seed 7
done
jqt "random: the seed is reported" '$a[0].seed == 7' "$tmp/random.json"

# magnitude: every conv2d and linear layer, each alone
expect "sensitivity magnitude" 0 "pruned by magnitude" "fc2" -- \
  "$bin" sensitivity "$m" --data "$d" --method magnitude --ratios 0.4,0.95 --json "$tmp/mag.json" --svg "$tmp/mag.svg"
jqt "magnitude: layers" '[$a[0].layers[] | .name] == ["conv1", "conv2", "fc1", "fc2"] and
  [$a[0].layers[] | .weights] == [36, 288, 25088, 640] and $a[0].granularity == "weights"' "$tmp/mag.json"
jqt "magnitude: accuracies in [0, 100]" 'all($a[0].layers[].results[]; .accuracy >= 0 and .accuracy <= 100)' "$tmp/mag.json"
jqt "magnitude: non-zero params" 'all($a[0].layers[].results[]; .params < $a[0].dense.params)' "$tmp/mag.json"
cell_matches "magnitude conv2 0.4" "$tmp/mag.json" 1 0 --method magnitude --scope local --layers conv2 --amount 0.4
cell_matches "magnitude fc2 0.95" "$tmp/mag.json" 3 1 --method magnitude --scope local --layers fc2 --amount 0.95
cell_matches "magnitude fc1 0.95 (global on one layer)" "$tmp/mag.json" 2 1 --method magnitude --layers fc1 --amount 0.95

# the default ratios: 0.9 of conv1's 4 channels rounds to all 4, which edagari prune refuses
expect "default ratios" 0 "0.1    0.2    0.3    0.4    0.5    0.6    0.7    0.8    0.9" "-: every channel would go" -- \
  "$bin" sensitivity "$m" --data "$d" --json "$tmp/def.json" --svg "$tmp/def.svg"
jqt "default ratios: 9 of them" '$a[0].ratios == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]' "$tmp/def.json"
jqt "conv1 at 0.9 left out" '$a[0].layers[0].results[8] | .accuracy == null and .removed == 4 and (.skipped | type) == "string"' "$tmp/def.json"
jqt "every other cell has an accuracy" '[$a[0].layers[].results[] | select(.accuracy == null)] | length == 1' "$tmp/def.json"
expect "edagari prune refuses conv1 at 0.9" 1 "would remove 4 of the 4 channels" -- \
  "$bin" prune "$m" --out "$tmp/x.edg" --layer conv1 --amount 0.9
cell_matches "l1 conv2 0.9" "$tmp/def.json" 1 8 --layer conv2 --amount 0.9

# ------------------------------------------------------------- the SVG
for f in s mag def; do
  svg=$tmp/$f.svg
  if command -v xmllint >/dev/null; then
    xmllint --noout "$svg" 2>"$tmp/xml" && ok || { bad "$f.svg is not well-formed XML:"; sed 's/^/    /' "$tmp/xml" >&2; }
  fi
  head -c 200 "$svg" | grep -q '^<?xml version="1.0" encoding="UTF-8"?>' && ok || bad "$f.svg: no XML declaration"
  grep -q '<svg xmlns="http://www.w3.org/2000/svg"' "$svg" && ok || bad "$f.svg: no svg element"
  [ "$(tail -n 1 "$svg")" = "</svg>" ] && ok || bad "$f.svg does not end with </svg>"
  # the tags open and close in pairs (a check that needs no xmllint)
  for t in svg g text defs clipPath; do
    [ "$(grep -o "<$t[ >]" "$svg" | wc -l)" = "$(grep -o "</$t>" "$svg" | wc -l)" ] && ok || bad "$f.svg: <$t> and </$t> do not pair"
  done
done
svg=$tmp/s.svg
for w in '>Sensitivity of simplecnn to l1 pruning, one layer at a time<' ">test accuracy (%)<" \
  ">fraction of the layer&apos;s channels removed (lowest l1 scores)<" ">conv1 (4 channels)<" ">conv2 (8 channels)<" \
  ">fc1 (64 channels)<" ">unpruned: " ">0.0<" ">0.5<" ">1.0<" "stroke-dasharray" \
  "set&amp;&lt;&quot;&apos;&gt;"; do
  grep -qF -- "$w" "$svg" && ok || bad "s.svg lacks '$w'"
done
grep -qF "set&<" "$svg" && bad "s.svg has the folder name unescaped" || ok
# one line per layer, with a marker per point
[ "$(grep -c '<path fill="none"' "$svg")" = 3 ] && ok || bad "s.svg: expected 3 lines"
[ "$(grep -c '^<circle' "$svg")" = 4 ] && ok || bad "s.svg: expected 4 circles for conv1's 4 points"
grep -qF ">fc2 (640 weights)<" "$tmp/mag.svg" && ok || bad "mag.svg: no legend entry for fc2"
grep -qF "no point: every channel would go" "$tmp/def.svg" && ok || bad "def.svg: the gap is not explained"
# conv1's line in def.svg has 8 points: its path has one M and 7 L
awk '/<path fill="none"/ {print; exit}' "$tmp/def.svg" | grep -o '[ML]' | tr -d '\n' | grep -qx 'MLLLLLLL' && ok ||
  bad "def.svg: conv1's line does not have 8 points"

# ------------------------------------------------- failures leave no file
expect "--json in a missing folder" 1 "--json $tmp/nodir/s.json: folder $tmp/nodir" -- \
  "$bin" sensitivity "$m" --data "$d" --json "$tmp/nodir/s.json"
grep -q '^dense' "$tmp/out" && bad "--json in a missing folder: the analysis ran first" || ok
expect "--svg is a folder" 1 "expected a file name, found a folder" -- "$bin" sensitivity "$m" --data "$d" --svg "$tmp"
expect "missing data" 1 "$tmp/nowhere: cannot open the data folder: no such folder" -- \
  "$bin" sensitivity "$m" --data "$tmp/nowhere" --json "$tmp/x.json" --svg "$tmp/x.svg"
no_file "missing data" "$tmp/x.json"
no_file "missing data" "$tmp/x.svg"
expect "missing model file" 1 "$tmp/none.edg: cannot open model file" -- "$bin" sensitivity "$tmp/none.edg" --data "$d"
head -c 3000 "$m" >"$tmp/cut.edg"
expect "truncated model file" 1 "$tmp/cut.edg: byte 3000: truncated" -- \
  "$bin" sensitivity "$tmp/cut.edg" --data "$d" --json "$tmp/x.json"
no_file "truncated model file" "$tmp/x.json"
# a failing run keeps the file it would have replaced
echo old >"$tmp/keep.json"
expect "failure keeps the old file" 1 "$tmp/nowhere: cannot open the data folder: no such folder" -- \
  "$bin" sensitivity "$m" --data "$tmp/nowhere" --json "$tmp/keep.json"
[ "$(cat "$tmp/keep.json")" = old ] && ok || bad "a failed run changed keep.json"

# --validation: training images held out with the seed, as edagari prune's; the dense
# figure is what edagari prune --validation's layer ranking starts from
expect "--validation" 0 "40 training images held out (chosen with seed 3)" "dense: validation accuracy" \
  "validation accuracy (%) with one layer pruned by l1" -- \
  "$bin" sensitivity "$m" --data "$d" --validation 40 --seed 3 --ratios 0.5 --layers conv2 --json "$tmp/v.json" --svg "$tmp/v.svg"
jqt "--validation: set and images" '$a[0].set == "validation" and $a[0].test_images == 40' "$tmp/v.json" "$tmp/v.json"
grep -q "validation accuracy" "$tmp/v.svg" && ok || bad "--validation: the plot does not say validation accuracy"
expect "--validation all" 1 "holding out 320 of its 320 images" -- "$bin" sensitivity "$m" --data "$d" --validation 320

# ---------------------------------------------------------- usage errors
expect "--help" 0 "usage: edagari sensitivity M.edg" "--ratios LIST" "--svg FILE" -- "$bin" sensitivity --help
expect "listed in edagari --help" 0 "sensitivity" -- "$bin" --help
usage() { # usage NAME 'word' -- args...: exit 2, the word and the usage, no file written
  local name=$1 word=$2
  shift 3
  expect "$name" 2 "$word" "usage: edagari sensitivity" -- "$bin" sensitivity --json "$tmp/u.json" --svg "$tmp/u.svg" "$@"
  no_file "$name" "$tmp/u.json"
  no_file "$name" "$tmp/u.svg"
}
usage "ratio 0" "ratio 1 is 0; expected a fraction strictly between 0 and 1" -- "$m" --data "$d" --ratios 0,0.5
usage "ratio 1" "ratio 2 is 1; expected a fraction strictly between 0 and 1" -- "$m" --data "$d" --ratios 0.5,1
usage "negative ratio" "ratio 1 is -0.2" -- "$m" --data "$d" --ratios -0.2
usage "ratio above 1" "ratio 3 is 1.5" -- "$m" --data "$d" --ratios 0.1,0.2,1.5
usage "decreasing ratios" "ratio 2 (0.3) is not greater than the one before (0.5); expected increasing ratios" -- \
  "$m" --data "$d" --ratios 0.5,0.3
usage "repeated ratio" "ratio 3 (0.4) is not greater than the one before (0.4)" -- "$m" --data "$d" --ratios 0.2,0.4,0.4
usage "ratio not a number" "ratio 2 is 'half'; expected a number" -- "$m" --data "$d" --ratios 0.1,half
usage "ratio nan" "ratio 1 is nan" -- "$m" --data "$d" --ratios nan
usage "empty ratio" "ratio 2 is empty" -- "$m" --data "$d" --ratios 0.1,,0.3
usage "trailing comma" "ends with a comma" -- "$m" --data "$d" --ratios 0.1,0.2,
usage "unknown layer" "model simplecnn has no node 'conv7'; the layers l1 can prune are: conv1, conv2, fc1" -- \
  "$m" --data "$d" --layers conv1,conv7
usage "not a layer" "node 'relu1' is a relu and has no channels of its own to prune" -- "$m" --data "$d" --layers relu1
usage "output layer" "'fc2' is the model's output" -- "$m" --data "$d" --layers fc2
usage "magnitude: not a layer" "node 'pool1' is a maxpool2d and has no weights to prune" -- \
  "$m" --data "$d" --method magnitude --layers pool1
expect "magnitude: the layers it can prune" 2 "the layers magnitude can prune are: conv1, conv2, fc1, fc2" -- \
  "$bin" sensitivity "$m" --data "$d" --method magnitude --layers pool1
usage "layer twice" "names 'conv2' twice" -- "$m" --data "$d" --layers conv2,fc1,conv2
usage "unknown method" "--method: expected one of l1, l2," -- "$m" --data "$d" --method bogus
expect "unknown method: names it" 2 "or magnitude (weights), found 'bogus'" -- "$bin" sensitivity "$m" --data "$d" --method bogus
usage "no model" "no model file given" -- --data "$d"
usage "two models" "unexpected argument" -- "$m" "$m" --data "$d"
usage "unknown flag" "unexpected argument '--ratio'" -- "$m" --data "$d" --ratio 0.5
usage "flag twice" "--method given twice" -- "$m" --data "$d" --method l1 --method l2
usage "flag without a value" "--layers needs a value" -- "$m" --data "$d" --layers
usage "batch 0" "--batch: expected an integer from 1" -- "$m" --data "$d" --batch 0
usage "threads x" "--threads: expected an integer" -- "$m" --data "$d" --threads x
usage "a spec" "is a model spec, not a model file (.edg)" -- "$src/models/simplecnn" --data "$d"
expect "--json and --svg the same" 2 "--json and --svg name the same file" "usage: edagari sensitivity" -- \
  "$bin" sensitivity "$m" --data "$d" --json "$tmp/same" --svg "$tmp/same"
no_file "--json and --svg the same" "$tmp/same"

finish
