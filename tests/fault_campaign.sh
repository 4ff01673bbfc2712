# Fault injection by hand (not a ctest test: it mounts file systems and
# takes minutes), reported in docs/reliability.md:
#   kill    SIGKILL at random moments of a 3-epoch run that writes a
#           checkpoint every 7 steps, each time resumed until it finishes;
#           every final model must equal, byte for byte, the uninterrupted
#           run's, and no temporary file may be left at the end
#   full    a file system that fills up during the run (a small tmpfs):
#           the failing checkpoint write says so, exits 1, the previous
#           checkpoint stays whole and no temporary file is left
#   ro      a folder that turns read-only during the run (a read-only
#           remount), and one that is read-only from the start
#   nan     training that diverges (LeNet-300-100 on MNIST, SGD lr 10)
# usage (as root, for the mounts): bash tests/fault_campaign.sh <edagari binary> [kills] [seed]
set -u
bin=$(realpath "$1") kills=${2:-20} seed=${3:-$RANDOM}
src=$(cd "$(dirname "$0")/.." && pwd)
. "$src/tests/lib.sh"
suite=fault_campaign
make_tmp eg_faults_by_hand
RANDOM=$seed
echo "seed $seed, $kills kills"

ramp 13
mkset "$tmp/data" 2500 10
run=(train --model "$src/models/simplecnn" --data "$tmp/data" --batch 16 --epochs 3 --seed 5 --threads 2 --no-progress)
mkdir "$tmp/ref"
t0=$(date +%s%N)
"$bin" "${run[@]}" --out "$tmp/ref/m.edg" --checkpoint "$tmp/ref/ck.edg" --checkpoint-every 7 >/dev/null || bad "the reference run failed"
ms=$((($(date +%s%N) - t0) / 1000000))
echo "the uninterrupted run takes $ms ms; kills come at random moments within it"

# ------------------------------------------------------------------ kill
same=0 mid_write=0
for k in $(seq "$kills"); do
  d=$tmp/kill$k
  mkdir "$d"
  resumes=0
  while [ ! -e "$d/m.edg" ]; do
    more=()
    [ -e "$d/ck.edg" ] && more=(--resume "$d/ck.edg")
    "$bin" "${run[@]}" --out "$d/m.edg" --checkpoint "$d/ck.edg" --checkpoint-every 7 "${more[@]}" >"$d/log" 2>&1 &
    pid=$!
    if [ $resumes -eq 0 ]; then  # the first run is killed at a random moment
      at=$(((RANDOM * 32768 + RANDOM) % ms))
      sleep "$((at / 1000)).$(printf %03d $((at % 1000)))"
      kill -9 $pid 2>/dev/null
    fi
    wait $pid 2>/dev/null  # no "Killed" line from the shell
    [ -n "$(ls "$d" | grep '\.tmp\.')" ] && mid_write=$((mid_write + 1))
    resumes=$((resumes + 1))
    [ $resumes -gt 3 ] && { bad "kill $k: no model after 3 runs: $(tail -2 "$d/log")"; break; }
  done
  cmp -s "$tmp/ref/m.edg" "$d/m.edg" && same=$((same + 1)) || bad "kill $k: the model differs from the uninterrupted run's"
  [ -z "$(ls "$d" | grep '\.tmp\.')" ] && ok || bad "kill $k: a temporary file was left: $(ls "$d")"
done
echo "kill: $same of $kills runs killed at random moments and resumed wrote the uninterrupted model byte for byte; $mid_write kills left a temporary file, removed by the next write"

# ------------------------------------------------------------- disk full
if [ "$(id -u)" -eq 0 ]; then
  mkdir "$tmp/full"
  mount -t tmpfs -o size=300k tmpfs "$tmp/full" || bad "cannot mount a tmpfs"
  # a checkpoint is about 315 KB: the first write fills the disk
  "$bin" "${run[@]}" --out "$tmp/full/m.edg" --checkpoint "$tmp/full/ck.edg" --checkpoint-every 50 >"$tmp/full.log" 2>&1
  st=$?
  [ $st = 1 ] && grep -q "No space left on device (nothing was replaced)" "$tmp/full.log" && ok ||
    bad "disk full: status $st: $(tail -1 "$tmp/full.log")"
  [ -z "$(ls "$tmp/full")" ] && ok || bad "disk full: left $(ls "$tmp/full")"
  echo "full: $(tail -1 "$tmp/full.log")"
  umount "$tmp/full"
  mount -t tmpfs -o size=4m tmpfs "$tmp/full"  # filled up once the first checkpoint is there
  "$bin" "${run[@]}" --out "$tmp/full/m.edg" --checkpoint "$tmp/full/ck.edg" --checkpoint-every 7 >"$tmp/full.log" 2>&1 &
  pid=$!
  while [ ! -e "$tmp/full/ck.edg" ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done
  dd if=/dev/zero of="$tmp/full/filler" bs=64k 2>/dev/null
  wait $pid
  st=$?
  [ $st = 1 ] && grep -q "No space left on device (nothing was replaced)" "$tmp/full.log" && "$bin" info "$tmp/full/ck.edg" >/dev/null &&
    [ "$(ls "$tmp/full" | tr '\n' ' ')" = "ck.edg filler " ] && ok ||
    bad "disk full later: status $st, left $(ls "$tmp/full"): $(tail -1 "$tmp/full.log")"
  echo "full later: $(tail -1 "$tmp/full.log"); the checkpoint left reads back: $("$bin" info "$tmp/full/ck.edg" | grep position)"
  umount "$tmp/full"

  # ---------------------------------------------------- read-only folder
  mkdir "$tmp/ro"
  mount -t tmpfs -o size=10m tmpfs "$tmp/ro"
  "$bin" "${run[@]}" --out "$tmp/ro/m.edg" --checkpoint "$tmp/ro/ck.edg" --checkpoint-every 7 >"$tmp/ro.log" 2>&1 &
  pid=$!
  while [ ! -e "$tmp/ro/ck.edg" ] && kill -0 $pid 2>/dev/null; do sleep 0.01; done
  mount -o remount,ro "$tmp/ro"
  wait $pid
  st=$?
  [ $st = 1 ] && grep -q "Read-only file system" "$tmp/ro.log" && "$bin" info "$tmp/ro/ck.edg" >/dev/null && ok ||
    bad "read-only later: status $st: $(tail -1 "$tmp/ro.log")"
  echo "read-only later: $(tail -1 "$tmp/ro.log"); the checkpoint left reads back: $("$bin" info "$tmp/ro/ck.edg" | grep position)"
  "$bin" "${run[@]}" --out "$tmp/ro/m2.edg" >"$tmp/ro.log" 2>&1
  st=$?
  [ $st = 1 ] && grep -q "cannot write in folder" "$tmp/ro.log" && ok || bad "read-only: status $st: $(tail -1 "$tmp/ro.log")"
  echo "read-only from the start: $(tail -1 "$tmp/ro.log")"
  umount "$tmp/ro"
else
  echo "full, ro: skipped (not root: no mounts)"
fi

# ------------------------------------------------------------------- nan
if [ -f "$src/data/mnist/train-labels-idx1-ubyte" ]; then
  "$bin" train --model "$src/models/lenet300100" --data "$src/data/mnist" --optimizer sgd --lr 10 --momentum 0.9 \
    --threads 1 --no-progress --out "$tmp/nan.edg" --checkpoint "$tmp/nan-ck.edg" --checkpoint-every 2 >"$tmp/nan.log" 2>&1
  st=$?
  [ $st = 1 ] && [ ! -e "$tmp/nan.edg" ] && "$bin" eval "$tmp/nan-ck.edg" --data "$src/data/mnist" >/dev/null && ok ||
    bad "nan: status $st: $(tail -1 "$tmp/nan.log")"
  echo "nan: $(tail -1 "$tmp/nan.log")"
fi
finish
