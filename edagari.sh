#!/usr/bin/env bash
# edagari.sh -- set up, build, test and demo edagari on Debian.
#
#   ./edagari.sh demo [run options...]  install, fetch MNIST, build, run recipes/seed.recipe
#   ./edagari.sh test                   install, fetch MNIST, build, run ctest in build/
#                                       and again in build-asan/ (ASan + UBSan), fuzz
#                                       every reader, the threaded tests under TSan
#                                       (build-tsan/), a pipeline under valgrind
#                                       (build-valgrind/)
#   ./edagari.sh build                  install and build only
#   ./edagari.sh help                   this text
#
# Missing tools are installed with apt-get (as root, or with sudo); a machine
# that already has them never calls apt. MNIST goes to data/mnist once.
set -euo pipefail
self=$(basename "$0")
cd "$(dirname "$0")"

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'edagari.sh: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,11s/^# \{0,1\}//p' "$self"; }

# apt-get the Debian packages of whatever is missing: tools found by
# command -v (command:package), the zlib headers by dpkg.
install_deps() {
  local need=() pair
  for pair in cmake:cmake gcc:build-essential make:build-essential npm:npm jq:jq; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
  done
  dpkg -s zlib1g-dev >/dev/null 2>&1 || need+=(zlib1g-dev)
  dpkg -s libopenmpi-dev >/dev/null 2>&1 || need+=(libopenmpi-dev)  # optional: mpirun -np N edagari ...
  command -v mpirun >/dev/null || need+=(openmpi-bin)
  command -v clang >/dev/null || need+=(clang)  # the libFuzzer harnesses (tests/fuzz)
  command -v valgrind >/dev/null || need+=(valgrind)
  dpkg -s libomp-dev >/dev/null 2>&1 || need+=(libomp-dev)  # libomp and its Archer tool, for the TSan build
  # ONNX in and out (optional: the build turns it off without them)
  command -v protoc-c >/dev/null || need+=(protobuf-c-compiler)
  dpkg -s libprotobuf-c-dev >/dev/null 2>&1 || need+=(libprotobuf-c-dev)
  dpkg -s libonnx-dev >/dev/null 2>&1 || need+=(libonnx-dev)
  [ ${#need[@]} -eq 0 ] && return
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  say "installing: ${need[*]}"
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${need[*]}"
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q </dev/null || die "apt-get update failed"
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null ||
    die "apt-get install ${need[*]} failed"
}

fetch_data() {
  bash scripts/fetch_mnist.sh || die "fetching MNIST (scripts/fetch_mnist.sh) failed"
}

# build DIR [cmake options...] [-- build options...]: configure once, then
# an incremental build.
build() {
  local dir=$1 opts=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "${opts[@]}" || die "configuring $dir/ failed"
  fi
  cmake --build "$dir" -j "$(nproc)" "$@" || die "building $dir/ failed"
}

# The test stages after the plain build's (see test below); each fails at
# its first failing step.
asan_stage() {
  build build-asan -DEG_SANITIZE=ON && ctest --test-dir build-asan --output-on-failure -LE fuzz
}
tsan_stage() {
  build build-tsan -DEG_TSAN=ON -DEG_MPI=OFF -- --target threaded_tests &&
    ctest --test-dir build-tsan --output-on-failure -L threads
}
# without -march=native: valgrind knows no AVX-512
valgrind_stage() {
  build build-valgrind -DEG_NATIVE=OFF -DEG_MPI=OFF -- --target edagari_cli &&
    bash tests/valgrind_pipeline.sh build-valgrind/edagari .
}

setup() {
  install_deps
  fetch_data
  say "building build/ (Release)"
  build build
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case $cmd in
  demo)
    setup
    say "running recipes/seed.recipe"
    exec build/edagari run recipes/seed.recipe --data data/mnist "$@"
    ;;
  test)
    [ $# -eq 0 ] || die "test takes no arguments"
    setup
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
    names=() statuses=() seconds=()
    # stage NAME COMMAND...: runs one stage in a subshell, keeping its status and time
    stage() {
      local name=$1 t0=$SECONDS rc=0
      shift
      say "stage $((${#names[@]} + 1))/5: $name"
      ("$@") || rc=$?
      names+=("$name") statuses+=("$rc") seconds+=($((SECONDS - t0)))
    }
    stage "ctest in build/ (Release)" ctest --test-dir build --output-on-failure -LE fuzz
    stage "ctest in build-asan/ (ASan + UBSan)" asan_stage
    stage "fuzz: each reader's libFuzzer harness, build/" ctest --test-dir build --output-on-failure -L fuzz
    stage "ThreadSanitizer: the threaded tests, build-tsan/" tsan_stage
    stage "valgrind: a short pipeline, build-valgrind/" valgrind_stage
    failed=0
    say "summary"
    for i in "${!names[@]}"; do
      printf '  stage %d, %s: %s (%d s)\n' $((i + 1)) "${names[$i]}" \
        "$([ "${statuses[$i]}" -eq 0 ] && echo passed || echo "FAILED (status ${statuses[$i]})")" "${seconds[$i]}"
      [ "${statuses[$i]}" -eq 0 ] || failed=1
    done
    exit $failed
    ;;
  build)
    [ $# -eq 0 ] || die "build takes no arguments"
    setup
    ;;
  help | -h | --help) usage ;;
  *) usage >&2; die "unknown command '$cmd'" ;;
esac
