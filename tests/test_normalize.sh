# The input normalisation through the edagari binary on tiny crafted IDX
# sets: a model trained from a spec takes its training set's mean and std
# per channel, keeps them in its file, and every later command uses them;
# a recipe's normalize line gives them instead; a model file that stores
# none takes MNIST's; the C export hands them on; bad lines and mismatches
# are refused.
# usage: bash test_normalize.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=normalize
make_tmp eg_normalize
need_jq

mkset "$tmp/tiny" 64 32
spec=$src/models/simplecnn
# the ramp's pixels, 64 images of 28x28 from 0..255 in turn: mean 127.5 / 255
expect "train: the training set's" 0 "normalize: the training set's, (x - mean) / std with mean 0.5, std 0.2898" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$tmp/m.edg" --batch 16 --no-progress
expect "eval: the model's" 0 "normalize: the model's, (x - mean) / std with mean 0.5, std 0.2898" -- \
  "$bin" eval "$tmp/m.edg" --data "$tmp/tiny"
expect "finetune: the model's" 0 "normalize: the model's" -- \
  "$bin" finetune "$tmp/m.edg" --data "$tmp/tiny" --out "$tmp/f.edg" --batch 16 --no-progress
expect "export C" 0 "wrote" -- "$bin" export --format c --out "$tmp/net" "$tmp/m.edg"
grep -q "#define NET_INPUT_MEAN {0.5f}" "$tmp/net.h" && grep -q "#define NET_INPUT_STD {0.289" "$tmp/net.h" && ok ||
  bad "the C export's header lacks the model's normalisation"

# a recipe's line, one value for every channel or one per channel
printf 'model %s\ndata %s\nnormalize mean=0.1307 std=0.3081\ntrain batch=16\n' "$spec" "$tmp/tiny" >"$tmp/r.recipe"
expect "recipe: normalize" 0 "normalize: the recipe's, (x - mean) / std with mean 0.1307, std 0.3081" -- \
  "$bin" run "$tmp/r.recipe" --save "$tmp/r.edg" --no-progress
expect "its file keeps it" 0 "normalize: the model's, (x - mean) / std with mean 0.1307, std 0.3081" -- \
  "$bin" eval "$tmp/r.edg" --data "$tmp/tiny"
printf 'model %s\ndata %s\nnormalize mean=0.2 std=0.3\neval\n' "$tmp/m.edg" "$tmp/tiny" >"$tmp/x.recipe"
expect "recipe against the model's" 1 "normalize: channel 0: mean 0.2, std 0.3; the model was trained with mean 0.5" -- \
  "$bin" run "$tmp/x.recipe"
printf 'model %s\ndata %s\nnormalize mean=0.1,0.2 std=1,1\neval\n' "$spec" "$tmp/tiny" >"$tmp/x.recipe"
expect "two values for one channel" 1 "normalize: 2 values; the model's input has 1 channels" -- "$bin" run "$tmp/x.recipe"
for bad_line in "normalize mean=0.1" "normalize mean=0.1 std=0" "normalize mean=a std=1" "normalize scale=2" \
  "normalize mean=0.1 std=1 mean=0.2"; do
  printf 'model %s\ndata %s\n%s\neval\n' "$spec" "$tmp/tiny" "$bad_line" >"$tmp/x.recipe"
  expect "recipe: $bad_line" 1 "x.recipe:3:" "normalize" -- "$bin" run "$tmp/x.recipe"
done

# the commands' --mean and --std, as the recipe line
expect "--mean --std" 0 "normalize: --mean and --std, (x - mean) / std with mean 0.25, std 0.5" -- \
  "$bin" train --model "$spec" --data "$tmp/tiny" --out "$tmp/ms.edg" --batch 16 --mean 0.25 --std 0.5 --no-progress
expect "--mean alone" 2 "--mean without --std" -- "$bin" eval "$tmp/ms.edg" --data "$tmp/tiny" --mean 0.25
expect "--std 0" 2 "std: expected numbers above 0, found '0'" -- "$bin" eval "$tmp/ms.edg" --data "$tmp/tiny" --mean 0 --std 0

# a model file without one (as every file before them): MNIST's
"$bin" import "$src/tests/fixtures/onnx/simplecnn.onnx" --out "$tmp/i.edg" >/dev/null 2>&1 || cp "$tmp/m.edg" "$tmp/i.edg"
if "$bin" info "$tmp/i.edg" 2>/dev/null | grep -q "import from ONNX"; then
  expect "a file without one" 0 "normalize: MNIST's (the model file stores none), (x - mean) / std with mean 0.1307, std 0.3081" -- \
    "$bin" eval "$tmp/i.edg" --data "$tmp/tiny"
else
  ok  # built without ONNX: no file without a normalisation to make here
fi
finish
