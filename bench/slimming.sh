#!/usr/bin/env bash
# Network slimming against L1-norm pruning on models/resnet_small, real MNIST:
# recipes/resnet_l1.recipe (plain training, prune by the filters' L1 norms)
# and recipes/resnet_slimming.recipe (training with an L1 penalty on the
# batchnorm scales, prune by |gamma|) remove the same channels (8 of 16 of
# conv3a, 8 of 16 of the coupled conv2/conv3b group), so the pruned models
# are the same size. For each seed both run, and the table gives the test
# accuracy after training, right after pruning and after one epoch of
# retraining, then the median of each column over the seeds.
#
# Usage: bench/slimming.sh [--seeds N] [--threads N] [--build]
#   --seeds N    seeds 0 .. N-1 (default 3)
#   --threads N  threads per run (default 2)
#   --build      rebuild build/ first
# Needs: build/edagari (built when missing), MNIST in data/mnist (fetched when missing), jq.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

seeds=3 threads=2 rebuild=no
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) is_count "${2:-}" || die "--seeds: expected a positive integer, found '${2:-}'"; seeds=$2; shift 2 ;;
    --threads) is_count "${2:-}" || die "--threads: expected a positive integer, found '${2:-}'"; threads=$2; shift 2 ;;
    --build) rebuild=yes; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
command -v jq >/dev/null || die "jq not found (apt-get install jq)"
build_edagari "$rebuild"
note_if_stale "$edagari"
fetch_mnist
make_tmp
private_edagari

median() { sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "models/resnet_small on MNIST, $threads threads; edagari $edagari_sum (built $edagari_built)"
printf '%-10s %5s %9s %9s %9s %8s\n' method seed trained pruned retrained params
for method in l1 slimming; do
  for ((s = 0; s < seeds; s++)); do
    "$edagari" run "$repo/recipes/resnet_$method.recipe" --seed "$s" --threads "$threads" --data "$data" \
      --no-progress --json "$tmp/$method.$s.json" >"$tmp/$method.$s.log" ||
      { cat "$tmp/$method.$s.log" >&2; die "recipes/resnet_$method.recipe failed for seed $s"; }
    read -r trained pruned final params < <(jq -r '"\(.accuracy.trained) \(.accuracy.after_pruning) \(.accuracy.final) \(.model_after.params)"' \
      "$tmp/$method.$s.json")
    printf '%-10s %5d %8.2f%% %8.2f%% %8.2f%% %8d\n' "$method" "$s" "$trained" "$pruned" "$final" "$params"
    echo "$trained $pruned $final" >>"$tmp/$method.all"
  done
done
echo "medians over $seeds seeds:"
for method in l1 slimming; do
  printf '%-10s %5s' "$method" "-"
  for col in 1 2 3; do printf ' %8.2f%%' "$(cut -d' ' -f$col "$tmp/$method.all" | median)"; done
  echo
done
