# Writes seed corpora of the fuzz harnesses: tests/fuzz/corpus/model_file/,
# small model files and checkpoints of a tiny model (4x4 inputs, 224
# parameters) that between them use every section and every tensor
# encoding; corpus/idx/ and corpus/idx_gz/, small IDX image and label files
# behind fuzz_idx.c's role byte (raw and gzipped for fuzz_idx; raw for
# fuzz_idx_gz, which compresses them). Run by hand after a format change:
# bash tests/fuzz/make_corpus.sh build/edagari
# (the files are committed; the same binary writes the same bytes).
set -eu
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus/model_file
tmp=$(mktemp -d /tmp/eg_corpus.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
bash -c ". '$here/../lib.sh'; tmp='$tmp'; mkset '$tmp/data' 40 8 4 4"
cat >"$tmp/tiny" <<'SPEC'
input   x   shape=1x4x4
conv2d  c1  out=3 kernel=3 pad=1
relu    r1
maxpool2d p1 kernel=2
flatten f
linear  fc1 out=8
relu    r2
linear  fc2 out=10
SPEC
mkdir -p "$out"
run() { "$bin" "$@" --data "$tmp/data" --batch 8 --seed 1 --threads 1 --no-progress >/dev/null; }
run train --model "$tmp/tiny" --out "$out/dense.edg"
"$bin" prune "$out/dense.edg" --out "$out/masked.edg" --method magnitude --amount 0.7 >/dev/null
"$bin" prune "$out/dense.edg" --out "$out/channels.edg" --layer c1 --amount 1 >/dev/null
run train --model "$tmp/tiny" --out "$tmp/x.edg" --checkpoint "$out/checkpoint-adam.edg" --checkpoint-every 3
run finetune "$out/masked.edg" --out "$tmp/y.edg" --optimizer sgd --lr 0.1 --momentum 0.9 \
  --checkpoint "$out/checkpoint-sgd.edg" --checkpoint-every 4
ls -l "$out"

# role byte: bit 0 set for a label file; fuzz_idx_gz's gzip level is (byte >> 1) % 10
idx=$here/corpus/idx gz=$here/corpus/idx_gz
mkdir -p "$idx" "$gz"
for f in images labels; do
  role=$([ $f = images ] && echo '\x00' || echo '\x01')
  src=$tmp/data/train-$f-idx$([ $f = images ] && echo 3 || echo 1)-ubyte
  { printf "$role"; head -c $([ $f = images ] && echo $((16 + 3 * 16)) || echo 11) "$src"; } >"$tmp/$f"
  # the header's count set to 3 to match the bytes kept
  printf '\x00\x00\x00\x03' | dd of="$tmp/$f" bs=1 seek=5 conv=notrunc status=none
  cp "$tmp/$f" "$idx/$f.idx"
  { printf "$role"; tail -c +2 "$tmp/$f" | gzip -9n; } >"$idx/$f.idx.gz"
  { printf "$([ $f = images ] && echo '\x12' || echo '\x0d')"; tail -c +2 "$tmp/$f"; } >"$gz/$f.idx"
done
ls -l "$idx" "$gz"
