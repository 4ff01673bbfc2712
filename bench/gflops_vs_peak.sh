#!/usr/bin/env bash
# GFLOP/s of the conv2d and linear kernels against the machine's peak (an FMA
# loop measured at the start of each run), one thread, for SimpleCNN,
# LeNet-5 and models/cnn3 (32-64-128 channels): each layer's forward and
# backward (weight gradient + input gradient) inside training steps of 64
# images, and the whole model's training and inference (batch 1000, 64, 1)
# with the fraction of the peak. The figures are `edagari bench --json`'s
# (medians of 7 rounds after a warm-up).
# Usage: bench/gflops_vs_peak.sh [--seconds S] [--build]
#   --seconds S  time per model (edagari bench --seconds; default 3)
#   --build      rebuild build/ first
# Needs: jq
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seconds=3 rebuild=no
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=${2:?}; shift 2 ;;
    --build) rebuild=yes; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
command -v jq >/dev/null || die "jq not found (apt-get install jq)"
build_edagari "$rebuild"
note_if_stale "$edagari"
make_tmp
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg); 1 thread"
for model in simplecnn lenet5 cnn3; do
  "$edagari" bench --model "$repo/models/$model" --threads 1 --seconds "$seconds" --json "$model.json" >/dev/null
done
printf '\n%-10s %-6s %-7s %10s %9s %7s %9s %7s\n' model layer op MACs/img "fwd GF/s" "%peak" "bwd GF/s" "%peak"
for model in simplecnn lenet5 cnn3; do
  jq -r --arg m "$model" '.peak.gflops_per_core as $p | .train.layers[] | select(.op == "conv2d" or .op == "linear") |
    [$m, .node, .op, .macs, .fwd_gflops_per_core, 100 * .fwd_gflops_per_core / $p,
     .bwd_gflops_per_core, 100 * .bwd_gflops_per_core / $p] |
    "\(.[0])\t\(.[1])\t\(.[2])\t\(.[3])\t\(.[4])\t\(.[5])\t\(.[6])\t\(.[7])"' "$model.json" |
    while IFS=$'\t' read -r m l o macs f fp b bp; do
      printf '%-10s %-6s %-7s %10d %9.1f %6.1f%% %9.1f %6.1f%%\n' "$m" "$l" "$o" "$macs" "$f" "$fp" "$b" "$bp"
    done
done
printf '\n%-10s %9s %10s %13s %13s %13s %13s\n' model "peak GF/s" MACs/img "train 64" "infer 1000" "infer 64" \
  "infer 1"
for model in simplecnn lenet5 cnn3; do
  jq -r --arg m "$model" '.peak.gflops_total as $p |
    [$m, $p, .macs_per_image, .train.gflops, 100 * .train.gflops / $p,
     (.inference | .batch1000, .batch64, .batch1 | .gflops, 100 * .gflops / $p)] | map(tostring) | join("\t")' \
    "$model.json" |
    while IFS=$'\t' read -r m p macs tg tf g1 f1 g2 f2 g3 f3; do
      printf '%-10s %9.1f %10d %6.1f %5.1f%% %6.1f %5.1f%% %6.1f %5.1f%% %6.1f %5.1f%%\n' "$m" "$p" "$macs" "$tg" "$tf" \
        "$g1" "$f1" "$g2" "$f2" "$g3" "$f3"
    done
done
echo "(GF/s = GFLOP/s, 2 x MACs per image x images/s; backward counts 2 x MACs when the layer computes an input"
echo " gradient (all but the first layer) and 1 x otherwise, training 3 x; %peak: of that run's one-thread FMA"
echo " peak; a peak far below the others' means other work shared the core during that run)"
