#!/usr/bin/env bash
# lanes_vs_rows.sh -- batch lanes (16 images a vector: inference in
# src/graph/lanes.c, training's pooled convs in src/layers/conv2d.c) against
# image by image, side by side, one thread: `edagari bench` with and without
# --no-lanes, interleaved, for the models in models/ that lanes take and for
# SimpleCNN and LeNet-5 with 75% of every layer's channels cut (as
# bench/sparse_speedup.sh cuts them: conv1 1, conv2 2, fc1 16 outputs; c1 1,
# c2 4, f1 30, f2 21): inference at batch 1000 and 64, training at batch 64.
#
# This is a benchmark, not a test: it prints figures, it checks nothing.
# Each figure is the median over the repeats of `edagari bench`'s own median
# (7 rounds after a warm-up); ns an image = 1e9 / images/s; ratio = image by
# image time / lanes time (>1: lanes are faster).
#
# Usage: bench/lanes_vs_rows.sh [--repeats N] [--seconds S] [--build]
#   --repeats N  interleaved runs of each setup (default 3)
#   --seconds S  edagari bench --seconds for each run (default 1)
#   --build      rebuild build/ first
# Needs: cmake + a C compiler, jq; an AVX-512 machine for lanes to run.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

repeats=3
seconds=1
rebuild=no
while [ $# -gt 0 ]; do
  case $1 in
    --repeats) [ $# -ge 2 ] && is_count "$2" || die "--repeats needs a positive number"; repeats=$2; shift 2 ;;
    --seconds) [ $# -ge 2 ] && [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds needs a number of seconds"
               seconds=$2; shift 2 ;;
    --build)   rebuild=yes; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
build_edagari "$rebuild"
note_if_stale "$edagari"
grep -q avx512f /proc/cpuinfo || echo "note: no AVX-512 here: both setups run image by image"
make_tmp
private_edagari

# the 75% cuts, as specs: the same shapes as sparse_speedup's channel pruning
sed 's/^\(conv2d *conv1 *\)out=4/\1out=1/; s/^\(conv2d *conv2 *\)out=8/\1out=2/; s/^\(linear *fc1 *\)out=64/\1out=16/' \
  "$repo/models/simplecnn" > simplecnn-75
sed 's/^\(conv2d *c1 *\)out=6/\1out=1/; s/^\(conv2d *c2 *\)out=16/\1out=4/; s/^\(linear *f1 *\)out=120/\1out=30/;
     s/^\(linear *f2 *\)out=84/\1out=21/' "$repo/models/lenet5" > lenet5-75
models="simplecnn lenet5 lenet300100 deepcnn cnn3 simplecnn-75 lenet5-75"
spec_of() { if [ -f "$1" ]; then echo "$tmp/$1"; else echo "$repo/models/$1"; fi; }
for m in simplecnn-75 lenet5-75; do
  grep -q 'out=1 ' "$m" || die "could not cut $m's channels (models/ changed?)"
done

echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(machine); 1 thread"
for r in $(seq "$repeats"); do
  echo "-- repeat $r/$repeats"
  for m in $models; do
    for mode in lanes rows; do
      flag=; [ "$mode" = rows ] && flag=--no-lanes
      "$edagari" bench --model "$(spec_of "$m")" --threads 1 --seconds "$seconds" $flag --json "$m.$mode.$r.json" \
        >/dev/null
    done
  done
done

# median of the repeats' images/s for model $1, setup $2, figure $3 (a jq path)
median_ips() {
  for r in $(seq "$repeats"); do jq "$3.images_per_s" "$1.$2.$r.json"; done |
    sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
printf '%-13s %6s %18s %12s %7s\n' model batch "image by image ns" "lanes ns" ratio
for m in $models; do
  for batch in 1000 64; do
    rows=$(median_ips "$m" rows ".inference.batch$batch") lanes=$(median_ips "$m" lanes ".inference.batch$batch")
    printf '%-13s %6d %18.0f %12.0f %7s\n' "$m" "$batch" "$(awk -v v="$rows" 'BEGIN { print 1e9 / v }')" \
      "$(awk -v v="$lanes" 'BEGIN { print 1e9 / v }')" "$(fmt_ratio "$lanes" "$rows")"
  done
done
echo
echo "training, batch 64 (whole Adam steps; in lanes, the convs with a fused 2x2 pool run 16 images at a time)"
printf '%-13s %18s %12s %7s\n' model "image by image ns" "lanes ns" ratio
for m in $models; do
  rows=$(median_ips "$m" rows .train) lanes=$(median_ips "$m" lanes .train)
  printf '%-13s %18.0f %12.0f %7s\n' "$m" "$(awk -v v="$rows" 'BEGIN { print 1e9 / v }')" \
    "$(awk -v v="$lanes" 'BEGIN { print 1e9 / v }')" "$(fmt_ratio "$lanes" "$rows")"
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); figures are noisy on a shared machine"
