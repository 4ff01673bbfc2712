#!/usr/bin/env bash
# lsh_vs_l1.sh -- LSH merging against L1 pruning of the same number of units,
# on real MNIST. For each model: train one epoch (seed 0) into a model file;
# then for each layer and cosine threshold, merge near-twins with
# `edagari prune --method lsh` (at most half the layer's units; 8 bits x 8
# tables), and remove the same count with `--method l1` from the same
# trained model; each is evaluated right after pruning and after one
# fine-tuning epoch (Adam lr 1e-3, seed 0). Prints one table.
#
# Usage: bench/lsh_vs_l1.sh [--bin PATH] [--data DIR] [--thresholds 0.5,0.3,0.2]
# Needs: bash, jq, the edagari binary (default <repo>/build/edagari).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/build/edagari DATA=$ROOT/data/mnist THRESHOLDS=0.5,0.3,0.2
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --thresholds) THRESHOLDS=$2; shift 2 ;;
        -h|--help) sed -n '/^# Usage:/,/^# Needs:/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "lsh_vs_l1.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[ -x "$BIN" ] || { echo "lsh_vs_l1.sh: no edagari binary at $BIN" >&2; exit 2; }
command -v jq >/dev/null || { echo "lsh_vs_l1.sh: needs jq" >&2; exit 2; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lsh_vs_l1.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
run() { "$BIN" "$@" --threads 2 >"$TMP/log" 2>&1 || { cat "$TMP/log" >&2; exit 1; }; }
acc() { run eval "$1" --data "$DATA"; sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' "$TMP/log"; }
ft() { run finetune "$1" --out "$2" --data "$DATA" --seed 0 --no-progress; acc "$2"; }

printf '%-12s %-6s %6s %5s %9s | %-13s %-13s | %-13s %-13s\n' model layer cos units merged "lsh pruned" "lsh tuned" "l1 pruned" "l1 tuned"
for spec in simplecnn:fc1,conv2 lenet300100:fc1,fc2 lenet5:f1,f2; do
    model=${spec%%:*} layers=${spec#*:}
    run train --model "$ROOT/models/$model" --out "$TMP/$model.edg" --data "$DATA" --seed 0 --no-progress
    base=$(acc "$TMP/$model.edg")
    echo "$model: trained 1 epoch, $base%"
    for layer in ${layers//,/ }; do
        for t in ${THRESHOLDS//,/ }; do
            run prune "$TMP/$model.edg" --out "$TMP/lsh.edg" --method lsh --layer "$layer" --amount 0.5 --threshold "$t" --json "$TMP/lsh.json"
            k=$(jq '.stages[0].merged' "$TMP/lsh.json")
            units=$(jq ".model_before.layers[] | select(.name == \"$layer\") | .output[0]" "$TMP/lsh.json")
            if [ "$k" = 0 ]; then
                printf '%-12s %-6s %6s %5s %9s | %-13s %-13s | %-13s %-13s\n' "$model" "$layer" "$t" "$units" 0 - - - -
                continue
            fi
            la=$(acc "$TMP/lsh.edg"); lt=$(ft "$TMP/lsh.edg" "$TMP/lsh-ft.edg")
            run prune "$TMP/$model.edg" --out "$TMP/l1.edg" --method l1 --layer "$layer" --amount "$k"
            ra=$(acc "$TMP/l1.edg"); rt=$(ft "$TMP/l1.edg" "$TMP/l1-ft.edg")
            printf '%-12s %-6s %6s %5s %9s | %-13s %-13s | %-13s %-13s\n' "$model" "$layer" "$t" "$units" "$k" "$la" "$lt" "$ra" "$rt"
        done
    done
done
