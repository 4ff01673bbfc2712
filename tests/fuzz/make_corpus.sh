# Writes the fuzz harness's seed corpus, tests/fuzz/corpus/: small model files
# and checkpoints of a tiny model (4x4 inputs, 224 parameters) that between
# them use every section and every tensor encoding. Run by hand after a
# format change: bash tests/fuzz/make_corpus.sh build/edagari
# (the files are committed; the same binary writes the same bytes).
set -eu
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus
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
