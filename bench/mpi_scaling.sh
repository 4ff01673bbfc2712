#!/usr/bin/env bash
# mpi_scaling.sh -- training throughput of edagari under Open MPI against
# threads, on this machine: one MNIST training epoch (60,000 images, batch
# 64, Adam) of a model with
#   1x1  one process, one thread          (edagari train --threads 1)
#   2x1  two ranks of one thread each     (mpirun -np 2 edagari train --threads 1)
#   1x2  one process, two threads         (edagari train --threads 2)
#   2x1 busy-waiting: 2x1 with OMPI_MCA_mpi_yield_when_idle=0, Open MPI's
#        default, which edagari replaces by 1 unless it is set
# and the bytes each rank hands to the allreduce per step (the parameters'
# gradients as float32, plus the batch loss as one double), with what a ring
# allreduce puts on the wire per rank for P ranks: 2 (P-1)/P times that.
#
# This is a benchmark, not a test: it prints figures, it checks nothing.
# On a machine shared with other work, Open MPI's busy-waiting ranks lose
# their cores to it, hence the last setup.
# Setups run interleaved (1x1, 2x1, 1x2, then again) so machine noise hits
# them alike; each figure is the median over the repeats of the epoch's
# images/s as edagari's --json report gives it (in-process timer around the
# epoch: data loading and MPI start-up are not counted). Ratios are against 1x1.
#
# Usage: bench/mpi_scaling.sh [--repeats R] [--model SPEC]... [--build]
#   --repeats R   repeats of each setup (default 3)
#   --model SPEC  a model spec (repeatable; default models/simplecnn and models/lenet5)
#   --build       rebuild <repo>/build first
# Needs: Open MPI (mpirun; edagari built with libopenmpi-dev), jq, data/mnist.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

repeats=3 models=() rebuild=no
while [ $# -gt 0 ]; do
  case $1 in
    --repeats) is_count "${2:-}" || die "--repeats needs a count"; repeats=$2; shift 2 ;;
    --model) [ -f "${2:-}" ] || die "--model: no spec '${2:-}'"; models+=("$2"); shift 2 ;;
    --build) rebuild=yes; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[ ${#models[@]} -gt 0 ] || models=("$repo/models/simplecnn" "$repo/models/lenet5")
command -v mpirun >/dev/null || die "mpirun not found: apt-get install openmpi-bin libopenmpi-dev, then rebuild"
command -v jq >/dev/null || die "jq not found: apt-get install jq"
[ -f "$data/train-images-idx3-ubyte" ] || die "no MNIST in $data (./edagari.sh demo fetches it)"
build_edagari "$rebuild"
tmp=$(mktemp -d /tmp/mpi_scaling.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mpi=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
"${mpi[@]}" -np 2 "$edagari" info "$repo/models/simplecnn" >/dev/null 2>&1 || die "mpirun -np 2 does not run here"

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "== $(nproc) cores; $repeats repeats per setup, interleaved; one training epoch of 60,000 MNIST images, batch 64"
for spec in "${models[@]}"; do
  name=$(basename "$spec")
  : >"$tmp/1x1" && : >"$tmp/2x1" && : >"$tmp/1x2" && : >"$tmp/2x1spin" && : >"$tmp/wait"
  for ((r = 0; r < repeats; r++)); do
    for setup in 1x1 2x1 1x2 2x1spin; do
      args=(train --model "$spec" --data "$data" --out "$tmp/m.edg" --seed "$r" --no-progress --json "$tmp/r.json")
      case $setup in
        1x1) "$edagari" "${args[@]}" --threads 1 >/dev/null ;;
        2x1) "${mpi[@]}" -np 2 "$edagari" "${args[@]}" --threads 1 >/dev/null ;;
        1x2) "$edagari" "${args[@]}" --threads 2 >/dev/null ;;
        2x1spin) OMPI_MCA_mpi_yield_when_idle=0 "${mpi[@]}" -np 2 "$edagari" "${args[@]}" --threads 1 >/dev/null ;;
      esac
      jq '.stages[0].epochs[0].images_per_s' "$tmp/r.json" >>"$tmp/$setup"
      if [ $setup = 2x1 ]; then
        jq '.stages[0].mpi_bytes_per_step' "$tmp/r.json" >"$tmp/bytes"
        jq '.stages[0].mpi_seconds_per_step * 1e6' "$tmp/r.json" >>"$tmp/wait"
      fi
    done
  done
  params=$("$edagari" info "$spec" | grep -o '[0-9]* parameters' | head -1 | grep -o '[0-9]*')
  macs=$("$edagari" info "$spec" | grep -o '[0-9]* MACs per image' | head -1 | grep -o '^[0-9]*')
  bytes=$(cat "$tmp/bytes")
  base=$(median <"$tmp/1x1")
  echo
  echo "$name: $params parameters, $macs MACs per image"
  printf '  %-34s %12s %8s   %s\n' "setup" "images/s" "ratio" "runs"
  for setup in 1x1 2x1 1x2 2x1spin; do
    med=$(median <"$tmp/$setup")
    case $setup in
      1x1) label="1 rank x 1 thread" ;;
      2x1) label="2 ranks x 1 thread (mpirun -np 2)" ;;
      1x2) label="1 rank x 2 threads" ;;
      2x1spin) label="2 ranks x 1 thread, busy-waiting" ;;
    esac
    printf '  %-34s %12.0f %7.2fx   %s\n' "$label" "$med" "$(echo "$med / $base" | bc -l)" "$(tr '\n' ' ' <"$tmp/$setup" | xargs printf '%.0f ')"
  done
  printf '  allreduce payload per step and rank: %s bytes (%s gradients x 4 + 8 for the loss)\n' "$bytes" "$params"
  printf '  rank 0 inside the allreduce (waiting for rank 1 included): median %.0f us per step of %.0f us\n' \
    "$(median <"$tmp/wait")" "$(echo "64 * 1000000 / $(median <"$tmp/2x1")" | bc -l)"
  printf '  a ring allreduce sends 2(P-1)/P of it per rank: %.0f bytes at P = 2, %.0f at P = 8\n' "$bytes" "$(echo "$bytes * 7 / 4" | bc -l)"
  printf '  compute per step: 3 x %s MACs x 64 images = %.1f M multiply-adds, %.2f of them per byte of payload\n' \
    "$macs" "$(echo "3 * $macs * 64 / 1000000" | bc -l)" "$(echo "3 * $macs * 64 / $bytes" | bc -l)"
done
