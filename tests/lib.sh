# Helpers shared by the tests/test_*.sh scripts; each sources it with
#   . "$(dirname "$0")/lib.sh"
# after `set -u` and `bin=$1 src=$2`. Not a test itself (CMake runs only
# tests/test_*.sh).
#
# A script sets suite=NAME (the name in its closing line), makes its folder
# with make_tmp, counts checks with ok and bad, and ends with finish, which
# prints "NAME: N passed, M failed" and exits non-zero if any check failed.

pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*" >&2; }
finish() { echo "$suite: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }

# need_jq: fails the suite at once when jq is missing
need_jq() { command -v jq >/dev/null || { bad "jq is needed (apt-get install jq, or ./edagari.sh build)"; finish; }; }

# make_tmp PREFIX: $tmp, a fresh folder /tmp/PREFIX.XXXXXX removed on exit
make_tmp() {
  tmp=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1
  trap 'rm -rf "$tmp"' EXIT
}

# expect NAME STATUS 'word' ... -- command...
# Runs the command; checks its exit status and that its output (stdout and
# stderr together) holds every word. A status of 128 or more, or a sanitizer
# report, is a crash. The output is left in $tmp/out; with expect_split=1,
# stdout is in $tmp/out, stderr in $tmp/err and both in $tmp/all.
expect() {
  local name=$1 want=$2
  shift 2
  local words=()
  while [ "$1" != -- ]; do words+=("$1"); shift; done
  shift
  local log=$tmp/out got
  if [ "${expect_split:-0}" = 1 ]; then
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    log=$tmp/all
    cat "$tmp/out" "$tmp/err" >"$log"
  else
    "$@" >"$tmp/out" 2>&1
    got=$?
  fi
  # sanitizer builds report on stderr and may exit 1, like an ordinary error
  if [ "$got" -ge 128 ] || grep -qE 'Sanitizer|runtime error:' "$log"; then
    bad "$name: crashed (status $got)"; sed 's/^/    /' "$log" >&2; return
  fi
  if [ "$got" != "$want" ]; then
    bad "$name: status $got, want $want"; sed 's/^/    /' "$log" >&2; return
  fi
  ok
  local w
  for w in "${words[@]}"; do
    if grep -qF -- "$w" "$log"; then ok; else bad "$name: output lacks '$w':"; sed 's/^/    /' "$log" >&2; fi
  done
}

# no_file NAME PATH: the path does not exist, and no temporary file is left in its folder
no_file() {
  if [ -e "$2" ]; then bad "$1: $2 was left behind"; else ok; fi
  if ls "$(dirname "$2")" | grep -q '\.tmp\.'; then bad "$1: a temporary file was left: $(ls "$(dirname "$2")" | grep '\.tmp\.')"; else ok; fi
}

# ------------------------------------------------------------- IDX files
# be32 V: V as 4 big-endian bytes
be32() { printf "$(printf '\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)))"; }

# ramp K: $tmp/pix, a 0..255 ramp repeated 2^K times (K = 8: 64 KiB, 83
# images of 28x28; K = 13: 2 MiB, 2,600 of them)
ramp() {
  printf "$(printf '\\x%02x' $(seq 0 255))" >"$tmp/pix"
  for _ in $(seq "$1"); do cat "$tmp/pix" "$tmp/pix" >"$tmp/pix2"; mv "$tmp/pix2" "$tmp/pix"; done
}

# images N H W > file: an IDX image file whose pixels come, in order, from
# $tmp/pix (ramp 8 on first use), so every image differs
images() {
  [ -f "$tmp/pix" ] || ramp 8
  be32 $((0x803)); be32 "$1"; be32 "$2"; be32 "$3"
  head -c $(($1 * $2 * $3)) "$tmp/pix"
}

# labels N [bump] > file: an IDX label file, labels 0..9 in turn; sample 2
# gets label 2 + bump
labels() {
  local s="" i
  for ((i = 0; i < $1; i++)); do s+=$(printf '\\x%02x' $(((i % 10) + ${2:-0} * (i == 2)))); done
  be32 $((0x801)); be32 "$1"; printf "$s"
}

# mkset DIR NTRAIN NTEST [H W [train label bump]]: an MNIST-layout folder of
# HxW images (default 28x28)
mkset() {
  mkdir -p "$1"
  images "$2" "${4:-28}" "${5:-28}" >"$1/train-images-idx3-ubyte"
  labels "$2" "${6:-0}" >"$1/train-labels-idx1-ubyte"
  images "$3" "${4:-28}" "${5:-28}" >"$1/t10k-images-idx3-ubyte"
  labels "$3" >"$1/t10k-labels-idx1-ubyte"
}
