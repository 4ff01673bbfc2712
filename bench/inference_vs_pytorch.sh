#!/usr/bin/env bash
# inference_vs_pytorch.sh -- inference images/s of edagari against the
# fastest PyTorch CPU setup, for the dense SimpleCNN and the pruned one
# (conv1 cut to 2 filters, conv2's matching inputs), at batch 1000, 64 and 1.
#
# This is a benchmark, not a test: it prints figures, it checks nothing.
#
# What runs, in each repeat, interleaved (so machine noise hits all alike):
#   pytorch-fast    the reference program (/work/shared/reference/seed_pipeline.py,
#                   $EDAGARI_REFERENCE overrides) with OpenBLAS (OpenMP build)
#                   via LD_LIBRARY_PATH, --threads 2 --loader tensor
#                   --variant fixed --bench --seed <repeat-1>. It trains, prunes
#                   and retrains, then times inference over the 10,000 test
#                   images with the trained dense model and the pruned one
#                   (median of its 3 passes); we read its --json "bench"
#                   section. OpenBLAS is fetched once, as bench/seed_vs_pytorch.sh
#                   does it (bench/lib.sh): `apt-get download libopenblas0-openmp` +
#                   `dpkg-deb -x` into bench/.cache ($EDAGARI_BENCH_CACHE
#                   overrides); nothing on the system changes.
#   edagari dense   edagari bench --model models/simplecnn --threads 2 --json ...
#   edagari pruned  the same on a spec written here: SimpleCNN with conv1 out=2
#                   (checked: 25,974 parameters, 68,064 MACs, as PyTorch's pruned
#                   model).
# For each setup and figure: the median over the repeats. Ratios are
# edagari images/s / PyTorch images/s (>1: edagari is faster).
#
# Inputs differ: edagari measures on random inputs with random weights,
# PyTorch on the MNIST test set with its trained weights. Speed does not
# depend on the values, except through subnormal floats (denormals), which
# are slow on x86: edagari flushes them to zero in its passes, and PyTorch's
# trained MNIST weights and activations do not come near that range (ReLU
# gives exact zeros, which are not subnormal). For PyTorch that is an
# argument, not something this script checks.
#
# Usage: bench/inference_vs_pytorch.sh [--repeats N] [--seconds S] [--build]
#                                      [--bin PATH] [--isa NAME]
#   --repeats N    interleaved repeats of every setup (default 3)
#   --seconds S    edagari bench --seconds for each model (default 3)
#   --build        run `cmake --build <repo>/build` first (default: build only
#                  when <repo>/build/edagari is missing)
#   --bin PATH     the edagari binary to measure (default <repo>/build/edagari)
#   --isa NAME     edagari runs its NAME kernels (EG_ISA=NAME: avx512, avx2,
#                  generic); with avx2 PyTorch is held to AVX2 as well
#                  (ONEDNN_MAX_CPU_ISA=AVX2, OPENBLAS_CORETYPE=Haswell), as on
#                  a CPU without AVX-512 (default: each program at its best)
# Needs: cmake + a C compiler, /usr/bin/python3 with torch, apt-get +
# dpkg-deb (first run only), jq; MNIST in <repo>/data/mnist (fetched by
# scripts/fetch_mnist.sh when missing).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # repo, reference, cache, python, data, edagari; helpers

repeats=3
seconds=3
rebuild=no
bin_given=no
isa=

while [ $# -gt 0 ]; do
  case $1 in
    --repeats) [ $# -ge 2 ] && is_count "$2" || die "--repeats needs a positive number"; repeats=$2; shift 2 ;;
    --seconds) [ $# -ge 2 ] && [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds needs a number of seconds"
               seconds=$2; shift 2 ;;
    --build)   rebuild=yes; shift ;;
    --bin)     [ $# -ge 2 ] || die "--bin needs a path"; edagari=$2; bin_given=yes; shift 2 ;;
    --isa)     [ $# -ge 2 ] && is_isa "$2" || die "--isa needs avx512, avx2 or generic"; isa=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# ----------------------------------------------------------------------------
# Prerequisites
# ----------------------------------------------------------------------------
need_torch python3-torch
need_reference
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"

[ "$bin_given" = yes ] || build_edagari "$rebuild"
[ -x "$edagari" ] || die "no edagari binary at $edagari"
"$edagari" bench --help >/dev/null 2>&1 || die "$edagari has no bench command (rebuild it: --build)"
note_if_stale "$edagari"

fetch_mnist

make_tmp          # $tmp, also the working directory
private_edagari   # a private copy of the binary (edagari_src: the original; see lib.sh)

# The two models edagari measures; the pruned one must be PyTorch's pruned shape.
dense_spec=$repo/models/simplecnn
pruned_spec=$tmp/simplecnn_pruned
sed -E 's/^(conv2d[[:space:]]+conv1[[:space:]].*)out=4/\1out=2/' "$dense_spec" >"$pruned_spec"
"$edagari" info "$pruned_spec" | grep -q '^model .*: 25974 parameters, 68064 MACs per image' ||
  die "the pruned spec $pruned_spec is not SimpleCNN with conv1 out=2: $("$edagari" info "$pruned_spec" 2>&1 | head -n1)"

# ----------------------------------------------------------------------------
# OpenBLAS for pytorch-fast (bench/lib.sh, as bench/seed_vs_pytorch.sh; the same cache)
# ----------------------------------------------------------------------------
setup_openblas    # blas_dir, fast_env, fast_blas (see lib.sh)
default_env=(env)
hold_isa "$isa"   # edagari_env, isa_note; fast_env held to AVX2 for avx2 (lib.sh)

# ----------------------------------------------------------------------------
# Runs: each appends one row to $tmp/<setup>.tsv:
#   b1000 b64 b1 (images/s) [edagari: train-images/s train-fraction-of-peak peak-total]
# ----------------------------------------------------------------------------
run_pytorch() {
  local seed=$1 json=$tmp/pytorch-seed$1.json log=$tmp/pytorch-seed$1.log
  if ! "${fast_env[@]}" "$python" "$reference" "$data" --seed "$seed" --threads 2 --loader tensor \
       --variant fixed --bench --json "$json" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "pytorch-fast (seed $seed) failed"
  fi
  jq -r '.bench.dense | [.batch1000, .batch64, .batch1] | map(.images_per_s) | @tsv' "$json" >>"$tmp/pytorch-dense.tsv"
  jq -r '.bench.pruned_fixed | [.batch1000, .batch64, .batch1] | map(.images_per_s) | @tsv' "$json" >>"$tmp/pytorch-pruned.tsv"
  jq -r --arg seed "$seed" '"  pytorch-fast    seed \($seed): dense \(.bench.dense | [.batch1000, .batch64, .batch1] | map(.images_per_s | floor) | join(" / ")), pruned \(.bench.pruned_fixed | [.batch1000, .batch64, .batch1] | map(.images_per_s | floor) | join(" / ")) images/s at batch 1000 / 64 / 1; train epoch \(.times.train_epoch * 100 | floor / 100) s"' "$json"
}

run_edagari() {
  local name=$1 spec=$2 r=$3 json=$tmp/edagari-$1-$3.json log=$tmp/edagari-$1-$3.log
  if ! "${edagari_env[@]}" "$edagari" bench --model "$spec" --threads 2 --seconds "$seconds" --json "$json" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "edagari bench ($name) failed"
  fi
  jq -r '[.inference.batch1000.images_per_s, .inference.batch64.images_per_s, .inference.batch1.images_per_s,
          .train.images_per_s, .train.fraction_of_peak, .peak.gflops_total] | @tsv' "$json" >>"$tmp/edagari-$name.tsv"
  jq -r --arg name "$(printf '%-7s' "$name")" '"  edagari \($name) \(.inference | [.batch1000, .batch64, .batch1] | map(.images_per_s | floor) | join(" / ")) images/s at batch 1000 / 64 / 1; train \(.train.images_per_s | floor) images/s; peak \(.peak.gflops_total | floor) GFLOP/s"' "$json"
}

# Median of column $2 of $1.
median() {
  awk -F'\t' -v c="$2" '{ print $c }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

source_state   # git_desc, git_dirty
echo "== inference: edagari vs PyTorch  ($(date '+%Y-%m-%d %H:%M:%S'))"
echo "machine:        $(machine) (start)"
echo "edagari:        $edagari_src (built $edagari_built, sha256 $edagari_sum..., commit $git_desc + $git_dirty changed source files)"
echo "                bench --threads 2 --seconds $seconds: random inputs, random weights, median of 7 rounds"
echo "ISA:            $isa_note"
echo "torch:          $("$python" -c 'import torch; print(torch.__version__)'), BLAS $fast_blas${OPENBLAS_CORETYPE:+, OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE}"
echo "pytorch-fast:   --threads 2 --loader tensor --variant fixed --bench: MNIST test set, trained weights,"
echo "                median of 3 passes over the 10,000 images"
echo "plan:           $repeats interleaved repeat(s); pruned = SimpleCNN with conv1 out=2 (68,064 MACs, dense 110,400)"
echo

for ((r = 0; r < repeats; r++)); do
  echo "-- repeat $((r + 1))/$repeats"
  run_pytorch "$r"
  run_edagari dense "$dense_spec" "$r"
  run_edagari pruned "$pruned_spec" "$r"
done

# ----------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------
# fmt_ratio EDAGARI PYTORCH (lib.sh) -> "3.7x" / "14x" / "0.42x"
echo
echo "== summary: images/s, medians of $repeats interleaved repeat(s); ratio = edagari / pytorch-fast (>1: edagari is faster)"
printf '%-8s %6s %12s %14s %8s\n' model batch edagari pytorch-fast ratio
sentences=()
declare -A med
for model in dense pruned; do
  col=1
  for batch in 1000 64 1; do
    e=$(median "$tmp/edagari-$model.tsv" $col)
    p=$(median "$tmp/pytorch-$model.tsv" $col)
    med[$model-e-$batch]=$e med[$model-p-$batch]=$p
    printf '%-8s %6s %12.0f %14.0f %8s\n' "$model" "$batch" "$e" "$p" "$(fmt_ratio "$e" "$p")"
    sentences+=("$model, batch $batch: edagari $(printf '%.0f' "$e"), pytorch-fast $(printf '%.0f' "$p") images/s ($(fmt_ratio "$e" "$p"))")
    col=$((col + 1))
  done
done
echo
echo "pruned / dense speed (MACs fall 1.62x):"
for who in e p; do
  name=$([ $who = e ] && echo edagari || echo pytorch-fast)
  printf '  %-13s' "$name"
  for batch in 1000 64 1; do
    printf '  batch %-4s %s' "$batch" "$(fmt_ratio "${med[pruned-$who-$batch]}" "${med[dense-$who-$batch]}")"
  done
  echo
done
echo
echo "edagari training, batch 64 (medians): dense $(median "$tmp/edagari-dense.tsv" 4 | awk '{ printf "%.0f", $1 }') images/s" \
     "($(median "$tmp/edagari-dense.tsv" 5 | awk '{ printf "%.1f", 100 * $1 }')% of the 2-thread peak of" \
     "$(median "$tmp/edagari-dense.tsv" 6 | awk '{ printf "%.0f", $1 }') GFLOP/s), pruned" \
     "$(median "$tmp/edagari-pruned.tsv" 4 | awk '{ printf "%.0f", $1 }') images/s"
echo
printf '%s\n' "${sentences[@]}"
echo
echo "note: edagari measures on random inputs with random weights, PyTorch on the MNIST test set with its"
echo "trained weights. Speed does not depend on the values except through subnormal floats (denormals):"
echo "edagari flushes them to zero, and PyTorch's weights and activations do not come near them (ReLU gives"
echo "exact zeros; argued, not checked here). The protocols differ too: edagari's median of 7 timed rounds after warm-up, PyTorch's"
echo "median of 3 passes over the test set after a short warm-up (its batch-64 passes end with a batch of 16)."
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores -- figures are noisy on a shared machine"
