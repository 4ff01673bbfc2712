# Data-parallel runs under mpirun against one process, on 1000 real MNIST
# training images (16 steps of 64; the last batch of 40, and -np 3 splits
# 64 as 21/21/22): the weights after training equal the single process's
# within 1e-5; after a structured prune and a Taylor-scored unstructured
# prune every rank's model (graph, parameters, masks) is the same bit for
# bit (each rank writes its own with EDAGARI_RANK_DUMP) and matches one
# process's; only rank 0 prints and writes; the split evaluation and the
# shared-out sensitivity analysis give one process's figures; a bad data
# path on one rank stops the whole job with a clear message, not a hang.
# usage: bash mpi_equivalence.sh <edagari> <source dir> <build test dir> <mpi_compare_models> <mpirun>
set -u
bin=$1 src=$2 compare=$4 mpirun=$5
. "$(dirname "$0")/lib.sh"
suite=mpi_equivalence
make_tmp eg_mpi
need_jq
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0  # Open MPI keeps memory to the end

# mpirun NP args...: as root (CI), more ranks than cores, never longer than 2 minutes
mpi() { local np=$1; shift; timeout -k 10 120 "$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np "$np" "$@"; }

# ---------------------------------------------------------------- data
mnist=$src/data/mnist
[ -f "$mnist/train-images-idx3-ubyte" ] || { bad "no MNIST in $mnist (./edagari.sh fetches it)"; finish; }
subset() { # DIR NTRAIN NTEST: the first images of MNIST
  mkdir -p "$1"
  { be32 $((0x803)); be32 "$2"; be32 28; be32 28; tail -c +17 "$mnist/train-images-idx3-ubyte" | head -c $(($2 * 784)); } >"$1/train-images-idx3-ubyte"
  { be32 $((0x801)); be32 "$2"; tail -c +9 "$mnist/train-labels-idx1-ubyte" | head -c "$2"; } >"$1/train-labels-idx1-ubyte"
  { be32 $((0x803)); be32 "$3"; be32 28; be32 28; tail -c +17 "$mnist/t10k-images-idx3-ubyte" | head -c $(($3 * 784)); } >"$1/t10k-images-idx3-ubyte"
  { be32 $((0x801)); be32 "$3"; tail -c +9 "$mnist/t10k-labels-idx1-ubyte" | head -c "$3"; } >"$1/t10k-labels-idx1-ubyte"
}
subset "$tmp/set" 1000 500
spec=$src/models/simplecnn
# train OUT LAUNCHER...: 1000 images, batches of 64, one thread a rank
train() { local out=$1; shift; "$@" train --model "$spec" --data "$tmp/set" --batch 64 --seed 4 --threads 1 --no-progress --out "$out"; }

# same NAME A B: the models agree within 1e-5 with identical masks
same() { if "$compare" "$2" "$3" 1e-5 >"$tmp/cmp"; then ok; else bad "$1: $(cat "$tmp/cmp")"; fi; }
# ranks_identical NAME DIR NP: DIR/rank0.edg .. rank<NP-1>.edg are the same bytes
ranks_identical() {
  local r
  [ -f "$2/rank0.edg" ] || { bad "$1: no $2/rank0.edg"; return; }
  for ((r = 1; r < $3; r++)); do
    if cmp -s "$2/rank0.edg" "$2/rank$r.edg"; then ok; else bad "$1: rank $r's model differs from rank 0's"; fi
  done
}

# ------------------------------------------------ training: N steps
train "$tmp/one.edg" "$bin" >"$tmp/one.log" 2>&1 || bad "single-process training failed: $(cat "$tmp/one.log")"
mkdir "$tmp/d1"
EDAGARI_RANK_DUMP=$tmp/d1 train "$tmp/np1.edg" mpi 1 "$bin" >/dev/null 2>&1 || bad "mpirun -np 1 failed"
cmp -s "$tmp/one.edg" "$tmp/np1.edg" && ok || bad "-np 1: not the single process's bits"
for np in 2 3; do
  mkdir "$tmp/d$np"
  expect "train -np $np" 0 "MPI: $np ranks of 1 thread; each takes its share of every batch" "model saved to $tmp/np$np.edg" -- \
    env EDAGARI_RANK_DUMP="$tmp/d$np" "$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np "$np" \
    "$bin" train --model "$spec" --data "$tmp/set" --batch 64 --seed 4 --threads 1 --no-progress --out "$tmp/np$np.edg" \
    --json "$tmp/np$np.json"
  same "train -np $np against one process" "$tmp/one.edg" "$tmp/np$np.edg"
  ranks_identical "train -np $np" "$tmp/d$np" "$np"
  cmp -s "$tmp/d$np/rank0.edg" "$tmp/np$np.edg" && ok || bad "train -np $np: --out is not rank 0's model"
  # only rank 0 prints and writes
  [ "$(grep -c '^summary:' "$tmp/out")" = 1 ] && ok || bad "train -np $np: $(grep -c '^summary:' "$tmp/out") summaries printed"
  [ "$(jq .ranks "$tmp/np$np.json")" = "$np" ] && ok || bad "train -np $np: the report does not say $np ranks"
done

# ------------------------------ structured and Taylor prunes, retraining
# (with SGD: Adam's first steps divide a gradient by its own size, so a
# weight whose gradient is near zero can move by a good part of lr on a
# rounding difference, and two epochs of it drift past 1e-5 for some inits)
cat >"$tmp/p.recipe" <<RECIPE
model $spec
data $tmp/set
train epochs=1 batch=64 optimizer=sgd lr=0.05 momentum=0.9
prune method=l1 layer=conv2 amount=3
prune method=taylor amount=0.8 batches=5 batch=50
train epochs=1 batch=64 optimizer=sgd lr=0.05 momentum=0.9
eval batch=100
RECIPE
"$bin" run "$tmp/p.recipe" --seed 2 --threads 1 --save "$tmp/p1.edg" --no-progress >"$tmp/p1.log" 2>&1 ||
  bad "the pruning recipe failed in one process: $(cat "$tmp/p1.log")"
for np in 2 3; do
  mkdir "$tmp/p$np"
  EDAGARI_RANK_DUMP=$tmp/p$np mpi "$np" "$bin" run "$tmp/p.recipe" --seed 2 --threads 1 --save "$tmp/p$np.edg" --no-progress \
    >"$tmp/p$np.log" 2>&1 || bad "the pruning recipe failed with -np $np: $(cat "$tmp/p$np.log")"
  ranks_identical "prune -np $np" "$tmp/p$np" "$np"
  same "prune -np $np against one process" "$tmp/p1.edg" "$tmp/p$np.edg"
  grep -q "taylor, |w x gradient| over 5 batches of 50" "$tmp/p$np.log" && ok || bad "prune -np $np: no taylor stage in the log"
done

# ------------------------------------------- split evaluation and sensitivity
"$bin" eval "$tmp/p2.edg" --data "$tmp/set" --batch 64 --threads 1 >"$tmp/e1" 2>&1
for np in 2 3; do
  mpi "$np" "$bin" eval "$tmp/p2.edg" --data "$tmp/set" --batch 64 --threads 1 >"$tmp/e$np" 2>&1
  a=$(grep -o 'test accuracy [0-9.]*%.*loss [0-9.]*' "$tmp/e1") b=$(grep -o 'test accuracy [0-9.]*%.*loss [0-9.]*' "$tmp/e$np")
  [ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "eval -np $np: '$b', one process '$a'"
done
"$bin" sensitivity "$tmp/one.edg" --data "$tmp/set" --ratios 0.25,0.5,0.75 --threads 1 --json "$tmp/s1.json" >/dev/null 2>&1 ||
  bad "sensitivity failed"
mpi 3 "$bin" sensitivity "$tmp/one.edg" --data "$tmp/set" --ratios 0.25,0.5,0.75 --threads 1 --json "$tmp/s3.json" >"$tmp/s3.log" 2>&1 ||
  bad "sensitivity -np 3 failed: $(cat "$tmp/s3.log")"
if [ -f "$tmp/s3.json" ] && [ "$(jq -S 'del(.seconds)' "$tmp/s1.json")" = "$(jq -S 'del(.seconds)' "$tmp/s3.json")" ]; then ok
else bad "sensitivity -np 3: not one process's cells"; fi
grep -q "cells shared among 3 ranks" "$tmp/s3.log" && ok || bad "sensitivity -np 3: the cells were not shared out"

# ---------------------------------------------- a rank that fails
cp -r "$tmp/set" "$tmp/set2"
for bad_rank in 1 0; do
  good=("$bin" train --model "$spec" --data "$tmp/set" --threads 1 --no-progress --out "$tmp/never.edg")
  broken=("$bin" train --model "$spec" --data "$tmp/missing" --threads 1 --no-progress --out "$tmp/never.edg")
  if [ $bad_rank = 1 ]; then first=("${good[@]}") second=("${broken[@]}"); else first=("${broken[@]}") second=("${good[@]}"); fi
  timeout -k 10 60 "$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np 1 "${first[@]}" : -np 1 "${second[@]}" \
    >"$tmp/fail.log" 2>&1
  rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "bad data on rank $bad_rank: exit status $rc (124: it hung)"
  grep -q "$tmp/missing: cannot open the data folder: no such folder" "$tmp/fail.log" && ok || bad "bad data on rank $bad_rank: the message does not name the path: $(head -5 "$tmp/fail.log")"
  grep -q "rank $bad_rank of 2 failed (exit status 1): stopping every rank" "$tmp/fail.log" && ok ||
    bad "bad data on rank $bad_rank: no word of stopping: $(head -5 "$tmp/fail.log")"
  no_file "bad data on rank $bad_rank" "$tmp/never.edg"
done
finish
