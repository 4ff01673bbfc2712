# Hostile paths through the edagari binary: a FIFO with no writer as a data
# file, a model file, a model spec, a recipe and a checkpoint to resume
# from; a data file that is a symlink to /dev/zero; a data folder that is a
# file, a symlink loop or missing. Each command exits 1 at once with a
# message naming the path and what it is, and writes nothing. (Before,
# the FIFOs hung at open and /dev/zero was read until memory ran out; the
# timeout turns such a hang into a failure.)
# usage: bash test_cli_hostile.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=cli_hostile
make_tmp eg_cli_hostile

mkset "$tmp/data" 64 32 28 28
"$bin" train --model "$src/models/simplecnn" --data "$tmp/data" --batch 16 --no-progress --out "$tmp/m.edg" >/dev/null ||
  bad "training the model the tests read failed"
mkfifo "$tmp/fifo" "$tmp/fifo.edg" "$tmp/fifo.recipe"
fifo_why="it is a FIFO (named pipe), not a regular file"
hang() { timeout 60 "$@"; }  # 124 if it hangs

mkdir "$tmp/fifo-data"
cp "$tmp/data/t10k-labels-idx1-ubyte" "$tmp/fifo-data/"
mkfifo "$tmp/fifo-data/t10k-images-idx3-ubyte"
expect "a FIFO as the test images" 1 "$tmp/fifo-data/t10k-images-idx3-ubyte: cannot open IDX file: $fifo_why" -- \
  hang "$bin" eval "$tmp/m.edg" --data "$tmp/fifo-data"
expect "a FIFO as the model file" 1 "$tmp/fifo.edg: cannot open model file: $fifo_why" -- \
  hang "$bin" eval "$tmp/fifo.edg" --data "$tmp/data"
expect "a FIFO as the model to train" 1 "$tmp/fifo: cannot open model spec: $fifo_why" -- \
  hang "$bin" train --model "$tmp/fifo" --data "$tmp/data" --out "$tmp/never.edg"
no_file "a FIFO as the model to train" "$tmp/never.edg"
expect "a FIFO to finetune" 1 "$tmp/fifo: cannot open model file: $fifo_why" -- \
  hang "$bin" finetune "$tmp/fifo" --data "$tmp/data" --out "$tmp/never.edg"
expect "a FIFO to inspect" 1 "$tmp/fifo: cannot open model spec: $fifo_why" -- hang "$bin" info "$tmp/fifo"
expect "a FIFO as the recipe" 1 "$tmp/fifo.recipe: cannot open recipe: $fifo_why" -- hang "$bin" run "$tmp/fifo.recipe"
expect "a FIFO to resume from" 1 "$tmp/fifo.edg: cannot open model file: $fifo_why" -- \
  hang "$bin" train --model "$src/models/simplecnn" --data "$tmp/data" --out "$tmp/never.edg" \
  --checkpoint "$tmp/ck.edg" --checkpoint-every 2 --resume "$tmp/fifo.edg"
no_file "a FIFO to resume from" "$tmp/never.edg"

mkdir "$tmp/zero-data"
cp "$tmp/data/"* "$tmp/zero-data/"
ln -sf /dev/zero "$tmp/zero-data/train-images-idx3-ubyte"
expect "training images from /dev/zero" 1 \
  "$tmp/zero-data/train-images-idx3-ubyte: cannot open IDX file: it is a character device, not a regular file" -- \
  hang "$bin" train --model "$src/models/simplecnn" --data "$tmp/zero-data" --out "$tmp/never.edg"
no_file "training images from /dev/zero" "$tmp/never.edg"

expect "a file as the data folder" 1 "$tmp/m.edg: cannot open the data folder: it is not a folder" -- \
  "$bin" eval "$tmp/m.edg" --data "$tmp/m.edg"
ln -s loop "$tmp/loop"
expect "a symlink loop as the data folder" 1 "$tmp/loop: cannot open the data folder: a symlink loop" -- \
  "$bin" eval "$tmp/m.edg" --data "$tmp/loop"
expect "a missing data folder" 1 "$tmp/none: cannot open the data folder: no such folder; hint: fetch MNIST" -- \
  "$bin" eval "$tmp/m.edg" --data "$tmp/none"
finish
