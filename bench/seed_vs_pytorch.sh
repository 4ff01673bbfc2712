#!/usr/bin/env bash
# seed_vs_pytorch.sh -- edagari against the PyTorch reference on the canonical
# pipeline (SimpleCNN on MNIST: train 1 epoch, prune conv1's 2 weakest L1
# filters + conv2's matching inputs, retrain 1 epoch, evaluate).
#
# This is a benchmark, not a test: it prints figures, it checks nothing.
#
# What runs (all on <repo>/data/mnist, fetched by scripts/fetch_mnist.sh if
# missing):
#   pytorch-default  the reference program as the original runs: reference
#                    BLAS (pinned with LD_LIBRARY_PATH to the libblas3 /
#                    liblapack3 directories, whatever the system's
#                    libblas.so.3 alternative is; --system-blas leaves it
#                    alone), torchvision loader, torch's default thread count,
#                    --variant fixed.
#   pytorch-fast     the fastest PyTorch setup: OpenBLAS (OpenMP build) via
#                    LD_LIBRARY_PATH, --threads 2 --loader tensor --variant fixed.
#                    The library is fetched once, without touching the system,
#                    with `apt-get download libopenblas0-openmp` + `dpkg-deb -x`
#                    into bench/.cache (git-ignored; $EDAGARI_BENCH_CACHE
#                    overrides).
#   edagari          <repo>/build/edagari run recipes/seed.recipe --threads 2
#                    (built with cmake if the binary is missing; --build
#                    rebuilds it first).
#
# How it is measured:
#   * Timing: R repeats (--repeats, default 3), interleaved (pytorch-default,
#     pytorch-fast, edagari, then again) so machine noise hits all three alike;
#     repeat r uses seed r-1.  For each setup the median over the repeats of:
#       - train epoch and retrain epoch seconds, as each program reports them
#         in its --json file (in-process timers around the epoch loop);
#       - the in-process total from the JSON (PyTorch: times.process_in_script,
#         from before `import torch`; edagari: total_seconds, data load +
#         stages);
#       - the whole-process wall time, measured from outside with date +%s.%N
#         (includes interpreter start-up, imports, data loading).
#     Ratios are PyTorch time / edagari time (>1: edagari is faster).
#   * Accuracy: final test accuracy (after retraining) for seeds 0..S-1
#     (--seeds, default 5) for edagari and pytorch-fast (mean, min, max, and
#     the difference of the means).  The timing runs supply the first seeds;
#     the remaining seeds get extra (untimed) runs, also interleaved.
#
# Figures are noisy on a small, shared machine: the load average is printed
# before and after; compare medians, and rerun when in doubt.
#
# Usage: bench/seed_vs_pytorch.sh [--repeats N] [--seeds N] [--quick]
#                                 [--build] [--system-blas] [--isa NAME]
#   --repeats N    timing repeats of each setup (default 3)
#   --seeds N      accuracy over seeds 0..N-1 (default 5)
#   --quick        1 repeat and 2 seeds (a smoke test, ~1 minute)
#   --build        run `cmake --build <repo>/build` first (default: build only
#                  when <repo>/build/edagari is missing)
#   --system-blas  pytorch-default uses the system's libblas.so.3 as is
#                  (default: pin the reference BLAS)
#   --isa NAME     edagari runs its NAME kernels (EG_ISA=NAME: avx512, avx2,
#                  generic); with avx2 both PyTorch setups are held to AVX2
#                  as well (ONEDNN_MAX_CPU_ISA=AVX2, OPENBLAS_CORETYPE=Haswell),
#                  as on a CPU without AVX-512; with generic PyTorch keeps
#                  its default ISA (default: every program at its best)
# Needs: cmake + a C compiler, /usr/bin/python3 with torch and torchvision,
# apt-get + dpkg-deb (first run only), jq or python3 for the JSON.
# The reference program is /work/shared/reference/seed_pipeline.py
# ($EDAGARI_REFERENCE overrides).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"   # repo, reference, cache, python, data, edagari; helpers

recipe=$repo/recipes/seed.recipe

repeats=3
seeds=5
rebuild=no
system_blas=no
isa=

while [ $# -gt 0 ]; do
  case $1 in
    --repeats) [ $# -ge 2 ] && is_count "$2" || die "--repeats needs a positive number"; repeats=$2; shift 2 ;;
    --seeds)   [ $# -ge 2 ] && is_count "$2" || die "--seeds needs a positive number"; seeds=$2; shift 2 ;;
    --quick)   repeats=1; seeds=2; shift ;;
    --build)   rebuild=yes; shift ;;
    --system-blas) system_blas=yes; shift ;;
    --isa)     [ $# -ge 2 ] && is_isa "$2" || die "--isa needs avx512, avx2 or generic"; isa=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# ----------------------------------------------------------------------------
# Prerequisites
# ----------------------------------------------------------------------------
need_torch "python3-torch python3-torchvision"
"$python" -c 'import torchvision' 2>/dev/null ||
  die "$python cannot import torchvision (the pytorch-default setup uses its loader); apt-get install python3-torchvision"
need_reference

build_edagari "$rebuild"
[ -x "$edagari" ] || die "no edagari binary at $edagari after the build"
note_if_stale "$edagari"

fetch_mnist

# JSON fields -> one tab-separated line: train retrain in-process-total accuracy threads
if command -v jq >/dev/null; then
  pytorch_fields() {
    jq -r '[.times.train_epoch, .variants.fixed.times.retrain_epoch, .times.process_in_script,
             .variants.fixed.acc_final, .threads] | @tsv' "$1"
  }
  edagari_fields() {
    jq -r '[.stages[] | select(.stage == "train")] as $t
           | [$t[0].epochs[0].seconds, $t[-1].epochs[0].seconds, .total_seconds,
              .accuracy.final, .threads] | @tsv' "$1"
  }
else
  pytorch_fields() {
    "$python" -c 'import json, sys
d = json.load(open(sys.argv[1])); v = d["variants"]["fixed"]
print(d["times"]["train_epoch"], v["times"]["retrain_epoch"], d["times"]["process_in_script"],
      v["acc_final"], d["threads"], sep="\t")' "$1"
  }
  edagari_fields() {
    "$python" -c 'import json, sys
d = json.load(open(sys.argv[1])); t = [s for s in d["stages"] if s["stage"] == "train"]
print(t[0]["epochs"][0]["seconds"], t[-1]["epochs"][0]["seconds"], d["total_seconds"],
      d["accuracy"]["final"], d["threads"], sep="\t")' "$1"
  }
fi

make_tmp          # $tmp, also the working directory
private_edagari   # a private copy of the binary (see lib.sh)

# ----------------------------------------------------------------------------
# The two BLAS setups (LD_LIBRARY_PATH only; nothing on the system changes)
# ----------------------------------------------------------------------------
setup_openblas    # blas_dir, fast_env, fast_blas: OpenBLAS for pytorch-fast (see lib.sh)

ref_blas=$(find /usr/lib -maxdepth 3 -path '*/blas/libblas.so.3' 2>/dev/null | head -n1 || true)
ref_lapack=$(find /usr/lib -maxdepth 3 -path '*/lapack/liblapack.so.3' 2>/dev/null | head -n1 || true)
if [ "$system_blas" = no ] && [ -n "$ref_blas" ] && [ -n "$ref_lapack" ]; then
  default_env=(env "LD_LIBRARY_PATH=$(dirname "$ref_blas"):$(dirname "$ref_lapack")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
else
  [ "$system_blas" = yes ] || echo "note: reference BLAS (libblas3/liblapack3) not found; pytorch-default uses the system's libblas.so.3"
  default_env=(env)
fi

hold_isa "$isa"   # edagari_env, isa_note; default_env and fast_env held to AVX2 for avx2 (lib.sh)

default_blas=$(loaded_blas "${default_env[@]}")

# ----------------------------------------------------------------------------
# One run: setup, seed, kind (timing|accuracy) -> a row in $tmp/<setup>.tsv
# columns: kind seed train retrain inprocess wall accuracy threads
# ----------------------------------------------------------------------------
run_one() {
  local setup=$1 seed=$2 kind=$3
  local json=$tmp/$setup-seed$seed.json log=$tmp/$setup-seed$seed.log
  local cmd fields start end wall
  case $setup in
    pytorch-default) cmd=("${default_env[@]}" "$python" "$reference" "$data" --seed "$seed"
                          --variant fixed --json "$json") ;;
    pytorch-fast)    cmd=("${fast_env[@]}" "$python" "$reference" "$data" --seed "$seed"
                          --threads 2 --loader tensor --variant fixed --json "$json") ;;
    edagari)         cmd=("${edagari_env[@]}" "$edagari" run "$recipe" --seed "$seed" --threads 2 --data "$data"
                          --json "$json" --no-progress) ;;
  esac
  start=$(date +%s.%N)
  if ! "${cmd[@]}" >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    die "$setup (seed $seed) failed: ${cmd[*]}"
  fi
  end=$(date +%s.%N)
  wall=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.3f", e - s }')
  if [ "$setup" = edagari ]; then fields=$(edagari_fields "$json"); else fields=$(pytorch_fields "$json"); fi
  printf '%s\t%s\t%s\n' "$kind" "$seed" "$(awk -F'\t' -v w="$wall" '{ print $1 "\t" $2 "\t" $3 "\t" w "\t" $4 "\t" $5 }' <<<"$fields")" \
    >>"$tmp/$setup.tsv"
  awk -F'\t' -v s="$setup" -v k="$kind" -v seed="$seed" -v w="$wall" '{
      printf "  %-16s seed %-2s %-8s train %6.2f s  retrain %6.2f s  in-process %6.2f s  wall %6.2f s  acc %.2f%%  threads %s\n",
             s, seed, k, $1, $2, $3, w, $4, $5 }' <<<"$fields"
}

# Median of column $2 over the timing rows of $1.
median() {
  awk -F'\t' -v c="$2" '$1 == "timing" { print $c }' "$1" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ----------------------------------------------------------------------------
# Runs
# ----------------------------------------------------------------------------
source_state   # git_desc, git_dirty
echo "== seed pipeline: edagari vs PyTorch  ($(date '+%Y-%m-%d %H:%M:%S'))"
echo "machine:          $(machine) (start)"
echo "edagari:          $repo/build/edagari (built $edagari_built, sha256 $edagari_sum..., commit $git_desc + $git_dirty changed source files), --threads 2, kernels ${isa:-the best this CPU runs}"
echo "ISA:              $isa_note"
echo "torch:            $("$python" -c 'import torch, torchvision; print(torch.__version__, "/ torchvision", torchvision.__version__)')${OPENBLAS_CORETYPE:+, OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE}"
echo "pytorch-default:  BLAS $default_blas; torchvision loader, default threads"
echo "pytorch-fast:     BLAS $fast_blas; tensor loader, --threads 2"
echo "data:             $data"
echo "plan:             $repeats interleaved timing repeat(s) (seeds 0..$((repeats - 1))), accuracy over seeds 0..$((seeds - 1))"
echo

for ((r = 0; r < repeats; r++)); do
  echo "-- timing repeat $((r + 1))/$repeats (seed $r)"
  for setup in pytorch-default pytorch-fast edagari; do
    run_one "$setup" "$r" timing
  done
done
if [ "$seeds" -gt "$repeats" ]; then
  echo "-- accuracy runs (seeds $repeats..$((seeds - 1)))"
  for ((s = repeats; s < seeds; s++)); do
    for setup in pytorch-fast edagari; do
      run_one "$setup" "$s" accuracy
    done
  done
fi

# ----------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------
# fmt_ratio PYTORCH EDAGARI (lib.sh) -> "3.7x" / "14x" / "0.42x"
fmt_s() { awk -v v="$1" 'BEGIN { f = (v >= 10) ? "%.1f s" : "%.2f s"; printf f, v }'; }

echo
echo "== summary: medians of $repeats interleaved run(s); (Nx) = PyTorch time / edagari time, >1 means edagari is faster"
printf '%-26s %-12s %-22s %-22s\n' "" "edagari" "pytorch-fast" "pytorch-default"
sentences=()
for metric in "train epoch:3" "retrain epoch:4" "in-process total:5" "process wall time:6"; do
  name=${metric%:*} col=${metric#*:}
  e=$(median "$tmp/edagari.tsv" "$col")
  f=$(median "$tmp/pytorch-fast.tsv" "$col")
  d=$(median "$tmp/pytorch-default.tsv" "$col")
  printf '%-26s %-12s %-22s %-22s\n' "$name" "$(fmt_s "$e")" \
    "$(fmt_s "$f") ($(fmt_ratio "$f" "$e"))" "$(fmt_s "$d") ($(fmt_ratio "$d" "$e"))"
  sentences+=("$name: edagari $(fmt_s "$e"), pytorch-fast $(fmt_s "$f") ($(fmt_ratio "$f" "$e")), pytorch-default $(fmt_s "$d") ($(fmt_ratio "$d" "$e"))")
done
echo
printf '%s\n' "${sentences[@]}"

echo
echo "== final test accuracy (after retraining), seeds 0..$((seeds - 1)), %"
printf '%-14s %7s %7s %7s   %s\n' "" mean min max "per seed"
acc_stats() {   # file -> "mean min max per-seed..."
  awk -F'\t' -v n="$seeds" '$2 < n { print $2 "\t" $7 }' "$1" | sort -n |
    awk -F'\t' '{ a[NR] = $2; s += $2; if (NR == 1 || $2 < lo) lo = $2; if (NR == 1 || $2 > hi) hi = $2 }
      END { printf "%.3f %.2f %.2f  ", s / NR, lo, hi; for (i = 1; i <= NR; i++) printf " %.2f", a[i]; print "" }'
}
read -r e_mean e_min e_max e_each <<<"$(acc_stats "$tmp/edagari.tsv")"
read -r f_mean f_min f_max f_each <<<"$(acc_stats "$tmp/pytorch-fast.tsv")"
printf '%-14s %7.2f %7.2f %7.2f   %s\n' edagari "$e_mean" "$e_min" "$e_max" "$e_each"
printf '%-14s %7.2f %7.2f %7.2f   %s\n' pytorch-fast "$f_mean" "$f_min" "$f_max" "$f_each"
awk -v e="$e_mean" -v f="$f_mean" -v n="$seeds" 'BEGIN {
  printf "difference of the means (edagari - pytorch-fast): %+.2f points over %d seed(s)\n", e - f, n }'
echo "(the reference README gives 97.12 +- 0.29 % over seeds 0-19 for PyTorch; one seed can land anywhere in 96.6-97.5)"
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores -- figures are noisy on a shared machine"
