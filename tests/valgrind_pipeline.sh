# Valgrind's memcheck over a short pipeline through the edagari binary, on
# a tiny crafted IDX set: a recipe that trains (two threads), evaluates,
# prunes channels, masks weights, retrains and saves the model and a
# report; then info, eval, the C and ONNX exports, an ONNX import and a
# command that fails (a missing data folder). Every run must end with 0
# errors and nothing definitely lost (valgrind exits 99 otherwise), and
# the good ones must succeed. Run by the valgrind stage of ./edagari.sh
# test, with a binary built without -march=native (valgrind knows no
# AVX-512).
# usage: bash valgrind_pipeline.sh <edagari binary> <source dir>
set -u
bin=$1 src=$2
. "$src/tests/lib.sh"
suite=valgrind_pipeline
make_tmp eg_valgrind
command -v valgrind >/dev/null || { bad "valgrind is missing (apt-get install valgrind)"; finish; }
mkset "$tmp/data" 64 32 28 28
# GOMP_SPINCOUNT set: the binary would otherwise exec itself to set it,
# and valgrind does not follow an exec
export GOMP_SPINCOUNT=3000

# memcheck NAME STATUS ARGS...: edagari ARGS under memcheck exits STATUS, with no error and no definite leak
memcheck() {
  local name=$1 want=$2
  shift 2
  valgrind --quiet --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --error-exitcode=99 \
    --log-file="$tmp/vg.log" "$bin" "$@" >"$tmp/out" 2>&1
  local got=$?
  if [ "$got" = "$want" ] && [ ! -s "$tmp/vg.log" ]; then
    ok
  else
    bad "$name: status $got, want $want; valgrind says:"
    sed 's/^/    /' "$tmp/vg.log" "$tmp/out" | head -60 >&2
  fi
}

cat >"$tmp/short.recipe" <<EOF
model $src/models/simplecnn
train epochs=1 batch=16 checkpoint=$tmp/ck.edg checkpoint_every=2
eval batch=32
prune method=l1 layer=conv1 amount=1
prune method=magnitude amount=0.5
train epochs=1 batch=16 optimizer=sgd lr=0.05 momentum=0.9
eval batch=32
EOF
memcheck "run" 0 run "$tmp/short.recipe" --data "$tmp/data" --threads 2 --no-progress --save "$tmp/m.edg" --json "$tmp/r.json"
memcheck "info" 0 info "$tmp/m.edg"
memcheck "info of a checkpoint" 0 info "$tmp/ck.edg"
memcheck "eval" 0 eval "$tmp/m.edg" --data "$tmp/data" --threads 2
memcheck "export c" 0 export --format c --out "$tmp/net" "$tmp/m.edg"
if "$bin" export --format onnx --out "$tmp/probe.onnx" "$src/models/simplecnn" >/dev/null 2>&1; then
  memcheck "export onnx" 0 export --format onnx --out "$tmp/m.onnx" "$tmp/m.edg"
  memcheck "import onnx" 0 import "$tmp/m.onnx" --out "$tmp/back.edg"
fi
memcheck "a missing data folder" 1 eval "$tmp/m.edg" --data "$tmp/nowhere"
finish
