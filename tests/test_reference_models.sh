# The reference architectures in models/ (mobilenet_v1_vww, resnet8) through
# the edagari binary on synthetic data of their shapes (their data sets
# cannot be fetched here): 4-D IDX images, N x 3 x H x W unsigned bytes.
# Each trains, has channels pruned, fine-tunes, evaluates and exports as C
# and ONNX; a set of the wrong shape is refused with both shapes named.
# usage: bash test_reference_models.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=reference_models
make_tmp eg_reference_models

# rgbset DIR NTRAIN NTEST H W CLASSES: 3 x H x W images (pixels from the
# ramp) and labels 0 .. CLASSES-1 in turn, in 4-D IDX files
rgbset() {
  local d=$1 h=$4 w=$5 k=$6 part n i s
  mkdir -p "$d"
  [ -f "$tmp/pix" ] || ramp 12
  for part in train:$2 t10k:$3; do
    n=${part#*:}
    { be32 $((0x804)); be32 "$n"; be32 3; be32 "$h"; be32 "$w"; head -c $((n * 3 * h * w)) "$tmp/pix"; } \
      >"$d/${part%:*}-images-idx4-ubyte"
    s=""
    for ((i = 0; i < n; i++)); do s+=$(printf '\\x%02x' $((i % k))); done
    { be32 $((0x801)); be32 "$n"; printf "$s"; } >"$d/${part%:*}-labels-idx1-ubyte"
  done
}

# model NAME DATA ROOT CUT: the whole path for models/NAME, cutting CUT
# channels of ROOT's group
model() {
  local name=$1 data=$2 root=$3 cut=$4 m=$tmp/$1
  expect "$name: train" 0 "model saved to $m.edg" -- \
    "$bin" train --model "$src/models/$name" --data "$data" --out "$m.edg" --batch 8 --no-progress
  expect "$name: prune $root" 0 "model saved to $m-p.edg" -- \
    "$bin" prune "$m.edg" --layer "$root" --amount "$cut" --out "$m-p.edg"
  "$bin" info "$m-p.edg" >"$tmp/$name.info" 2>&1
  grep -q "prune l1 $root: removed $cut of" "$tmp/$name.info" && ok || bad "$name: the history lacks the prune of $root"
  expect "$name: finetune" 0 "model saved to $m-f.edg" -- \
    "$bin" finetune "$m-p.edg" --data "$data" --out "$m-f.edg" --batch 8 --no-progress
  expect "$name: eval" 0 "accuracy final" -- "$bin" eval "$m-f.edg" --data "$data"
  expect "$name: export C" 0 "wrote $tmp/${name}_c.h and $tmp/${name}_c.c" -- "$bin" export --format c --out "$tmp/${name}_c" "$m-f.edg"
  if "$bin" export --format onnx --out "$m.onnx" "$m-f.edg" >"$tmp/out" 2>&1; then ok
  elif grep -q "built without ONNX" "$tmp/out"; then ok
  else bad "$name: export ONNX:"; sed 's/^/    /' "$tmp/out" >&2
  fi
}

rgbset "$tmp/rgb32" 48 16 32 32 10
model resnet8 "$tmp/rgb32" conv0 4
grep -q "conv0 *conv2d .* 12x32x32" "$tmp/resnet8.info" && ok || bad "resnet8: conv0 does not have 12 channels after the cut"
rgbset "$tmp/rgb96" 16 8 96 96 2
model mobilenet_v1_vww "$tmp/rgb96" pw5 16
grep -q "dw6 *dwconv2d .* 48x6x6" "$tmp/mobilenet_v1_vww.info" && ok ||
  bad "mobilenet_v1_vww: the depthwise conv after pw5 does not have 48 channels"

# MNIST-shaped data for a 3 x 32 x 32 model
mkset "$tmp/gray" 16 8
expect "a set of the wrong shape" 1 "1x28x28" "3x32x32" -- \
  "$bin" train --model "$src/models/resnet8" --data "$tmp/gray" --out "$tmp/never.edg" --no-progress
no_file "a set of the wrong shape" "$tmp/never.edg"
finish
