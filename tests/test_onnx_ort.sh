# ONNX through the binary, checked in onnxruntime (npm onnxruntime-node,
# installed into tests/.ort/ by tests/onnx/setup_ort.sh when missing):
# edagari export --format onnx of specs (SimpleCNN, LeNet-5, LeNet-300-100)
# and of trained, channel-pruned and magnitude-pruned model files runs in
# onnxruntime with the outputs edagari computes (within 1e-4); PyTorch's own
# exports, imported, compute in edagari what onnxruntime computes from them;
# an imported model is pruned, fine-tuned and exported again and still
# agrees; a .onnx file is taken wherever a model is; unsupported ops and
# damaged files are errors naming the node or byte, and leave no file.
# Exits 77 (skipped) when edagari was built without ONNX, or for another
# processor (EG_EMULATOR set: tests/CMakeLists.txt).
# usage: bash test_onnx_ort.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2 bt=$3
. "$(dirname "$0")/lib.sh"
suite=onnx_ort
if [ -n "${EG_EMULATOR:-}" ]; then
  echo "$suite: skipped: a cross-build, run under $EG_EMULATOR; onnxruntime (node) checks the native build's ONNX"
  exit 77
fi
if ! "$bt/onnx_compare" --available; then
  echo "$suite: skipped: edagari was built without ONNX (install protobuf-c-compiler libprotobuf-c-dev libonnx-dev)"
  exit 77
fi
make_tmp eg_onnx_ort
ort=$(bash "$src/tests/onnx/setup_ort.sh") || { bad "onnxruntime-node could not be set up"; finish; }
js=$src/tests/onnx/ort_run.js
fx=$src/tests/fixtures/onnx

# same NAME MODEL ONNX [onnx_compare options]: edagari's MODEL and onnxruntime's ONNX agree
same() {
  local name=$1 model=$2 onnx=$3
  shift 3
  if "$bt/onnx_compare" "$model" "$onnx" "$ort" "$js" "$@" >"$tmp/cmp" 2>&1; then ok; else bad "$name:"; sed 's/^/    /' "$tmp/cmp" >&2; fi
  grep -h 'max |diff|' "$tmp/cmp"
}

# ------------------------------------------- PyTorch's exports, imported
for m in simplecnn lenet5 mlp_matmul resbn sigmoid_cnn mobile_cnn avgpool_cnn dwconv_cnn mobilenet_v1_vww resnet8 \
  maxpool_cnn; do
  same "torch $m: import vs onnxruntime" "$fx/$m.onnx" "$fx/$m.onnx" --inputs "onnx/$m"
done
# the fuzz seeds are PyTorch exports too (tiny_res: weights passed through Identity nodes); fixed batches
for m in tiny_cnn:1 tiny_view_mm:2 tiny_stride:1 tiny_res:1; do
  same "torch ${m%:*}: import vs onnxruntime" "$src/tests/fuzz/corpus/onnx/${m%:*}.onnx" "$src/tests/fuzz/corpus/onnx/${m%:*}.onnx" --batch "${m#*:}"
done

# ------------------------------------------- specs, exported
for m in simplecnn lenet5 lenet300100 resnet_small mobilenet_v1_vww resnet8; do
  expect "export $m" 0 "wrote $tmp/$m.onnx" "opset 13" -- "$bin" export --format onnx --out "$tmp/$m.onnx" --seed 3 "$src/models/$m"
  same "export $m" "$src/models/$m" "$tmp/$m.onnx" --seed 3
done

# ------------------------------------------- ops both ways
# both_ways NAME OPSET PATTERN SPEC-LINES...: a spec exported (at that
# opset) and run in onnxruntime, imported back and run again; the imported
# model's info holds PATTERN (the op, with its shapes)
both_ways() {
  local name=$1 opset=$2 pattern=$3 f=$tmp/$1
  shift 3
  printf '%s\n' "$@" >"$f.spec"
  expect "export $name" 0 "wrote $f.onnx: ONNX opset $opset" -- "$bin" export --format onnx --out "$f.onnx" --seed 5 "$f.spec"
  same "export $name" "$f.spec" "$f.onnx" --seed 5
  expect "import $name" 0 -- "$bin" import "$f.onnx" --out "$f.edg"
  same "import $name" "$f.edg" "$f.onnx"
  "$bin" info "$f.edg" | grep -q "$pattern" && ok || bad "$name: the imported model's info lacks '$pattern'"
}
# sigmoid: an elementwise op known to the importer from its table entry alone
both_ways sigmoid 13 " sigmoid " "input x shape=1x8x8" "conv2d c out=3 kernel=3 pad=1" "sigmoid s" "flatten f" \
  "linear l out=4" "sigmoid t"
# hardswish (HardSwish, so opset 14) and relu6 (Clip with min 0 and max 6 as
# initializers; mobile_cnn above reaches every piece of both)
both_ways hardswish 14 " hardswish " "input x shape=1x8x8" "conv2d c out=3 kernel=3 pad=1" "hardswish h" \
  "conv2d d out=3 kernel=3 pad=1" "relu6 r" "flatten f" "linear l out=4"
grep -q " relu6 " <("$bin" info "$tmp/hardswish.edg") && ok || bad "the imported model lacks its relu6 node"
# dwconv2d: a Conv with group = its channels
both_ways dwconv2d 13 "dwconv2d .* 4x5x5 .* 4x1x3x3" "input x shape=3x9x9" "conv2d c out=4 kernel=3 pad=1" \
  "dwconv2d d kernel=3 stride=2 pad=1" "relu r" "flatten f" "linear l out=4"
# avgpool2d: AveragePool with its pads and count_include_pad 1
both_ways avgpool2d 13 "avgpool2d .* 3x5x5" "input x shape=2x9x9" "conv2d c out=3 kernel=3 pad=1" \
  "avgpool2d p kernel=3 stride=2 pad=1" "avgpool2d q kernel=2" "flatten f" "linear l out=4"
# maxpool2d: MaxPool with its pads and ceil_mode (p: 5x5, not floor's 4x4; q: 3x3, as a fourth
# window would start in the right padding)
both_ways maxpool2d 13 "maxpool2d .* 3x5x5" "input x shape=2x8x8" "conv2d c out=3 kernel=3 pad=1" \
  "maxpool2d p kernel=3 stride=2 pad=1 ceil=1" "maxpool2d q kernel=2 pad=1 ceil=1" "flatten f" "linear l out=4"

# ------------------------------------------- model files: trained, pruned
d=$tmp/data
mkset "$d" 64 16
expect "train" 0 -- "$bin" train --model "$src/models/simplecnn" --data "$d" --out "$tmp/m.edg" --batch 16 --threads 1
expect "prune channels" 0 -- "$bin" prune "$tmp/m.edg" --out "$tmp/p.edg" --layer conv2 --amount 3
expect "prune magnitude" 0 -- "$bin" prune "$tmp/m.edg" --out "$tmp/q.edg" --method magnitude --amount 0.9
for f in m p q; do
  expect "export $f.edg" 0 "wrote $tmp/$f.onnx" -- "$bin" export --format onnx --out "$tmp/$f.onnx" "$tmp/$f.edg"
  same "export $f.edg" "$tmp/$f.edg" "$tmp/$f.onnx"
done
# the channel-pruned export is smaller, the masked one holds its zeros
[ "$(stat -c %s "$tmp/p.onnx")" -lt "$(stat -c %s "$tmp/m.onnx")" ] && ok || bad "the channel-pruned ONNX file is not smaller"

# ------------------------------------------- import, prune, fine-tune, export
expect "import simplecnn" 0 "conv1" "fc2" "wrote $tmp/i.edg" -- "$bin" import "$fx/simplecnn.onnx" --out "$tmp/i.edg"
same "import simplecnn: the .edg" "$tmp/i.edg" "$fx/simplecnn.onnx" --inputs onnx/simplecnn
expect "info on a .onnx" 0 "conv1" "import from ONNX" -- "$bin" info "$fx/simplecnn.onnx"
expect "eval on a .onnx" 0 "test accuracy" -- "$bin" eval "$fx/simplecnn.onnx" --data "$d"
expect "prune imported" 0 -- "$bin" prune "$tmp/i.edg" --out "$tmp/ip.edg" --layer conv1 --amount 2
expect "mask imported" 0 -- "$bin" prune "$tmp/ip.edg" --out "$tmp/ipm.edg" --method magnitude --amount 0.5
expect "finetune imported" 0 "epoch 1/1" -- "$bin" finetune "$tmp/ipm.edg" --data "$d" --out "$tmp/f.edg" --batch 16 --threads 1
expect "history" 0 "import from ONNX" "prune l1 conv1" -- "$bin" info "$tmp/f.edg"
expect "export fine-tuned" 0 -- "$bin" export --format onnx --out "$tmp/f.onnx" "$tmp/f.edg"
same "import -> prune -> finetune -> export" "$tmp/f.edg" "$tmp/f.onnx"
# a residual CNN with BatchNorm: trained (running statistics move), and PyTorch's, pruned and fine-tuned
expect "train resnet_small" 0 -- "$bin" train --model "$src/models/resnet_small" --data "$d" --out "$tmp/r.edg" --batch 16 --threads 1
expect "export resnet_small" 0 -- "$bin" export --format onnx --out "$tmp/r.onnx" "$tmp/r.edg"
same "export trained resnet_small" "$tmp/r.edg" "$tmp/r.onnx"
expect "import resbn" 0 "bn1" "add" "wrote $tmp/rb.edg" -- "$bin" import "$fx/resbn.onnx" --out "$tmp/rb.edg"
expect "prune resbn (coupled through the add)" 0 -- "$bin" prune "$tmp/rb.edg" --out "$tmp/rbp.edg" --layer conv1 --amount 3
expect "finetune resbn" 0 "epoch 1/1" -- "$bin" finetune "$tmp/rbp.edg" --data "$d" --out "$tmp/rbf.edg" --batch 16 --threads 1
expect "export resbn" 0 -- "$bin" export --format onnx --out "$tmp/rbf.onnx" "$tmp/rbf.edg"
same "resbn: import -> prune -> finetune -> export" "$tmp/rbf.edg" "$tmp/rbf.onnx"
expect "prune straight from .onnx" 0 -- "$bin" prune "$fx/lenet5.onnx" --out "$tmp/l.edg" --layer c1 --amount 3
expect "export pruned lenet5" 0 -- "$bin" export --format onnx --out "$tmp/l.onnx" "$tmp/l.edg"
same "lenet5: import -> prune -> export" "$tmp/l.edg" "$tmp/l.onnx"
expect "C export of a .onnx" 0 "wrote $tmp/cnet.h" -- "$bin" export --format c --out "$tmp/cnet" "$fx/mlp_matmul.onnx"

# ------------------------------------------- errors
expect "unsupported op" 1 "unsupported.onnx" "node '/Tanh'" "Tanh" "not supported" -- \
  "$bin" import "$fx/unsupported.onnx" --out "$tmp/u.edg"
no_file "unsupported op" "$tmp/u.edg"
expect "a Pad before a max pool" 1 "pad_maxpool.onnx" "MaxPool" "is a Pad's output" "padding of the AveragePool" -- \
  "$bin" import "$fx/pad_maxpool.onnx" --out "$tmp/pm.edg"
no_file "a Pad before a max pool" "$tmp/pm.edg"
head -c 5000 "$fx/simplecnn.onnx" >"$tmp/cut.onnx"
expect "truncated" 1 "cut.onnx: byte" -- "$bin" import "$tmp/cut.onnx" --out "$tmp/c.edg"
no_file "truncated" "$tmp/c.edg"
expect "missing file" 1 "cannot open" -- "$bin" import "$tmp/none.onnx" --out "$tmp/n.edg"
expect "import usage" 2 "usage: edagari import" -- "$bin" import "$fx/simplecnn.onnx"
expect "export usage" 2 "expected c or onnx" -- "$bin" export --format tflite --out "$tmp/x" "$src/models/simplecnn"
expect "export to a missing folder" 1 -- "$bin" export --format onnx --out "$tmp/no/such/x.onnx" "$src/models/simplecnn"
finish
