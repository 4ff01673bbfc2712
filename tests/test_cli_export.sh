# edagari export --format c through the binary: a spec initialised with
# --seed, a model trained, magnitude-pruned and channel-pruned on a tiny
# crafted IDX set; the generated code compiles with
# cc -std=c99 -Wall -Wextra -Werror -pedantic -O2, and a device-style main
# (pixels -> normalised floats -> NAME_infer) gets the test accuracy that
# edagari eval prints; info reports the flash and RAM the export prints;
# the same input gives the same bytes; failures write nothing; usage errors
# exit 2. (tests/test_export_c.c checks the numbers value by value.)
# usage: bash test_cli_export.sh <edagari binary> <source dir> <build test dir>
set -u
bin=$1 src=$2
. "$(dirname "$0")/lib.sh"
suite=cli_export
make_tmp eg_export_c_sh
CC="cc -std=c99 -Wall -Wextra -Werror -pedantic -O2"

# the number after a phrase in the last output: figure 'flash' -> 104552
figure() { grep -oE "$1 [0-9]+" "$tmp/out" | head -1 | grep -oE '[0-9]+$'; }

# ---------------------------------------------------------------- data
# 64 training and 32 test images of 28x28: pixel i of image k is
# (i*7 + k*29 + (i/28)*(k%5)) mod 256; labels k mod 10. Big-endian IDX headers.
pattern_images() { # pattern_images N (be32 and labels: lib.sh)
  be32 $((0x803)); be32 "$1"; be32 28; be32 28
  printf "$(awk -v n="$1" 'BEGIN { for (k = 0; k < n; k++) for (i = 0; i < 784; i++)
    printf "\\x%02x", (i * 7 + k * 29 + int(i / 28) * (k % 5)) % 256 }')"
}
d=$tmp/data
mkdir "$d"
pattern_images 64 >"$d/train-images-idx3-ubyte"; labels 64 >"$d/train-labels-idx1-ubyte"
pattern_images 32 >"$d/t10k-images-idx3-ubyte"; labels 32 >"$d/t10k-labels-idx1-ubyte"
[ "$(stat -c %s "$d/t10k-images-idx3-ubyte")" = $((16 + 32 * 784)) ] && ok || bad "the test images file has the wrong size"

# A device-style main for model NAME: reads the IDX test set, normalises each
# image as edagari's loader does, runs NAME_infer and prints the accuracy.
write_main() { # write_main NAME FILE
  local up
  up=$(echo "$1" | tr a-z A-Z)
  cat >"$2" <<EOF
#include <stdio.h>
#include <stdlib.h>
#include "$1.h"

static float input[${up}_INPUT_SIZE], output[${up}_OUTPUT_SIZE], scratch[${up}_SCRATCH_FLOATS + 1];

static long be32(FILE *f)
{
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) exit(3);
    return (long)b[0] << 24 | (long)b[1] << 16 | (long)b[2] << 8 | (long)b[3];
}

int main(int argc, char **argv)
{
    FILE *fi, *fl;
    long n, k, i, right = 0;
    if (argc != 3 || !(fi = fopen(argv[1], "rb")) || !(fl = fopen(argv[2], "rb"))) return 2;
    be32(fi), n = be32(fi), be32(fi), be32(fi), be32(fl), be32(fl);
    for (k = 0; k < n; k++) {
        unsigned char pix[${up}_INPUT_SIZE];
        int label;
        if (fread(pix, 1, sizeof pix, fi) != sizeof pix || (label = fgetc(fl)) == EOF) return 3;
        static const float mean[] = ${up}_INPUT_MEAN, sd[] = ${up}_INPUT_STD;
        for (i = 0; i < ${up}_INPUT_SIZE; i++) {
            int c = (int)(i / (${up}_INPUT_H * ${up}_INPUT_W));
            input[i] = ((float)pix[i] / 255.0f - mean[c]) / sd[c];
        }
        right += $1_infer(input, output, scratch) == label;
    }
    printf("accuracy %.2f%% (%ld of %ld)\n", 100.0 * (double)right / (double)n, right, n);
    fclose(fi), fclose(fl);
    return 0;
}
EOF
}

# compiles out/NAME.c with a main (strict flags), runs it on the test set
run_export() { # run_export DIR NAME
  write_main "$2" "$1/main.c"
  if ! (cd "$1" && $CC main.c "$2.c" -o main) >"$tmp/cc.log" 2>&1; then
    bad "$1/$2.c does not compile with $CC:"; sed 's/^/    /' "$tmp/cc.log" >&2; return 1
  fi
  ok
  (cd "$1" && ./main "$d/t10k-images-idx3-ubyte" "$d/t10k-labels-idx1-ubyte") >"$tmp/run.log" 2>&1 || {
    bad "$1/main failed:"; sed 's/^/    /' "$tmp/run.log" >&2; return 1; }
  ok
}

# -------------------------------------------------------- from a spec
spec=$src/models/simplecnn
mkdir "$tmp/a" "$tmp/b" "$tmp/c"
expect "export a spec" 0 "edagari export: model $spec: 26138 parameters, initialised with seed 1" \
  "conv1    conv2d    dense: 160 bytes" "fc1      linear    dense: 100608 bytes" \
  "flash 104552 bytes of parameters; RAM 15680 bytes of scratch (3920 floats: buffers of 3136 + 784)" \
  "wrote $tmp/a/net.h and $tmp/a/net.c: int net_infer(const float *input, float *output, float *scratch)" -- \
  "$bin" export --format c --out "$tmp/a/net" "$spec" --seed 1
[ -f "$tmp/a/net.h" ] && [ -f "$tmp/a/net.c" ] && ok || bad "export a spec: no net.h or net.c"
grep -q '^#define NET_SCRATCH_FLOATS 3920 ' "$tmp/a/net.h" && ok || bad "net.h lacks NET_SCRATCH_FLOATS 3920"
grep -q '^#define NET_INPUT_SIZE 784 ' "$tmp/a/net.h" && grep -q '^#define NET_OUTPUT_SIZE 10 ' "$tmp/a/net.h" && ok ||
  bad "net.h lacks the input and output sizes"
"$bin" export --format c --out "$tmp/b/net" "$spec" --seed 1 >/dev/null 2>&1
cmp -s "$tmp/a/net.c" "$tmp/b/net.c" && cmp -s "$tmp/a/net.h" "$tmp/b/net.h" && ok || bad "the same spec and seed wrote different files"
"$bin" export --format c --out "$tmp/c/net" "$spec" --seed 2 >/dev/null 2>&1
cmp -s "$tmp/a/net.c" "$tmp/c/net.c" && bad "seeds 1 and 2 wrote the same weights" || ok
cmp -s "$tmp/a/net.h" "$tmp/c/net.h" && ok || bad "seeds 1 and 2 wrote different headers (the same shapes)"
run_export "$tmp/a" net
expect "info on a spec" 0 "C export (edagari export --format c): flash 104552 bytes of parameters, RAM 15680 bytes of scratch (3920 floats)" -- \
  "$bin" info "$spec"
expect "export lenet5" 0 "flash 246824 bytes" "RAM 23520 bytes" -- "$bin" export --format c --out "$tmp/c/lenet" "$src/models/lenet5"
run_export "$tmp/c" lenet

# ---------------------------------------- trained, pruned, model files
m=$tmp/m
mkdir "$m" "$m/dense" "$m/sparse" "$m/chan"
"$bin" train --model "$spec" --data "$d" --out "$m/m.edg" --batch 16 --seed 3 --threads 1 --no-progress >"$tmp/out" 2>&1 &&
  ok || { bad "train failed:"; cat "$tmp/out" >&2; }
"$bin" prune "$m/m.edg" --out "$m/s.edg" --method magnitude --amount 0.9 >"$tmp/out" 2>&1 && ok || { bad "prune magnitude failed:"; cat "$tmp/out" >&2; }
"$bin" prune "$m/m.edg" --out "$m/p.edg" --layer conv1 --amount 2 >"$tmp/out" 2>&1 && ok || { bad "prune conv1 failed:"; cat "$tmp/out" >&2; }

for which in m:dense s:sparse p:chan; do
  f=$m/${which%%:*}.edg dir=$m/${which#*:}
  expect "export $f" 0 "edagari export: model simplecnn from $f" "wrote $dir/model" -- \
    "$bin" export --format c --out "$dir/model" "$f"
  flash=$(figure flash) ram=$(figure RAM)
  [ -n "$flash" ] && [ -n "$ram" ] && ok || bad "export $f: no flash or RAM figure"
  expect "info $f" 0 "C export (edagari export --format c): flash $flash bytes of parameters" "RAM $ram bytes of scratch" -- \
    "$bin" info "$f"
  grep -q "Flash: $flash bytes" "$dir/model.h" && ok || bad "$dir/model.h does not give the flash $flash"
  run_export "$dir" model || continue
  expect "eval $f" 0 "test accuracy" -- "$bin" eval "$f" --data "$d" --threads 1
  want=$(grep -oE 'test accuracy [0-9.]+%' "$tmp/out" | grep -oE '[0-9.]+%')
  got=$(grep -oE '[0-9.]+%' "$tmp/run.log")
  [ -n "$want" ] && [ "$want" = "$got" ] && ok || bad "$f: the exported code's accuracy is $got, edagari eval's $want"
done
grep -q "CSR" "$m/sparse/model.c" && grep -q '#include <stdint.h>' "$m/sparse/model.c" && ok || bad "the 90% masked model has no CSR layer"
expect "export of the masked model names its CSR layers" 0 "fc1      linear    CSR, " "16-bit indices" -- \
  "$bin" export --format c --out "$m/sparse/again" "$m/s.edg"
expect "info of the masked model names its CSR layers" 0 "(CSR: " "fc1" "all dense: 104552)" -- "$bin" info "$m/s.edg"
sparse=$(stat -c %s "$m/sparse/model.c") dense=$(stat -c %s "$m/dense/model.c")
[ "$sparse" -lt $((dense / 3)) ] && ok || bad "the 90% masked model's code is $sparse bytes, the dense one's $dense"
# channel pruning: conv1 2x28x28 in A, pool1 2x14x14 in B
grep -q '^#define MODEL_SCRATCH_FLOATS 1960 ' "$m/chan/model.h" && ok || bad "the channel-pruned model's scratch is not 1568 + 392 floats"
# a model file and the spec it came from: the same layout
grep -q '^#define MODEL_SCRATCH_FLOATS 3920 ' "$m/dense/model.h" && ok || bad "the trained model's scratch is not 3920 floats"

# --------------------------------------------- failures write nothing
mkdir "$tmp/none"
expect "a missing folder" 1 "folder $tmp/nodir/ does not exist" -- "$bin" export --format c --out "$tmp/nodir/net" "$spec"
expect "not an identifier" 1 "the name '2net' must be a C identifier" -- "$bin" export --format c --out "$tmp/none/2net" "$spec"
expect "a missing model" 1 "$tmp/none.edg: cannot open model file" -- "$bin" export --format c --out "$tmp/none/net" "$tmp/none.edg"
head -c 2000 "$m/m.edg" >"$tmp/cut.edg"
expect "a truncated model file" 1 "byte 2000: truncated" -- "$bin" export --format c --out "$tmp/none/net" "$tmp/cut.edg"
[ -z "$(ls -A "$tmp/none")" ] && ok || bad "failed exports left files: $(ls "$tmp/none")"

# ---------------------------------------------------------- usage errors
expect "--help" 0 "usage: edagari export --format c --out NAME" -- "$bin" export --help
expect "no model" 2 "edagari export: no model given" "usage: edagari export" -- "$bin" export --format c --out "$tmp/none/x"
expect "no --format" 2 "no --format given" -- "$bin" export --out "$tmp/none/x" "$spec"
expect "--format tflite" 2 "--format: expected c or onnx, found 'tflite'" -- \
  "$bin" export --format tflite --out "$tmp/none/x" "$spec"
expect "no --out" 2 "no --out NAME given" -- "$bin" export --format c "$spec"
expect "--out twice" 2 "--out given twice" -- "$bin" export --format c --out a --out b "$spec"
expect "--seed abc" 2 "--seed: expected an integer" -- "$bin" export --format c --out "$tmp/none/x" "$spec" --seed abc
expect "--seed with a model file" 2 "--seed: $m/m.edg is a model file, whose parameters are kept" -- \
  "$bin" export --format c --out "$tmp/none/x" "$m/m.edg" --seed 1
expect "two models" 2 "unexpected argument" -- "$bin" export --format c --out "$tmp/none/x" "$spec" "$spec"
expect "unknown flag" 2 "unexpected argument '--frob'" -- "$bin" export --format c --out "$tmp/none/x" "$spec" --frob
expect "--out without a value" 2 "--out needs a value" -- "$bin" export --format c "$spec" --out
[ -z "$(ls -A "$tmp/none")" ] && ok || bad "usage errors left files: $(ls "$tmp/none")"
expect "listed by edagari --help" 0 "export" "C code for devices" -- "$bin" --help

finish
