#!/usr/bin/env bash
# edagari.sh -- set up, build, test and demo edagari on Debian.
#
#   ./edagari.sh demo [run options...]  install, fetch MNIST, build, run recipes/seed.recipe
#   ./edagari.sh test                   install, fetch MNIST, build, run ctest in build/
#                                       and again in build-asan/ (ASan + UBSan)
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
  command -v clang >/dev/null || need+=(clang)  # optional: the libFuzzer harness (tests/fuzz), skipped without it
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

# build DIR [cmake options...]: configure once, then an incremental build.
build() {
  local dir=$1
  shift
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" || die "configuring $dir/ failed"
  fi
  cmake --build "$dir" -j "$(nproc)" || die "building $dir/ failed"
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
    say "stage 1/2: ctest in build/ (Release)"
    plain=0
    ctest --test-dir build --output-on-failure || plain=$?
    say "stage 2/2: ctest in build-asan/ (Release, -DEG_SANITIZE=ON: ASan + UBSan)"
    build build-asan -DEG_SANITIZE=ON
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
    asan=0
    ctest --test-dir build-asan --output-on-failure || asan=$?
    result() { [ "$1" -eq 0 ] && echo passed || echo "FAILED (ctest status $1)"; }
    say "stage 1 (build/): $(result $plain); stage 2 (build-asan/): $(result $asan)"
    [ "$plain" -ne 0 ] && exit "$plain"
    exit "$asan"
    ;;
  build)
    [ $# -eq 0 ] || die "build takes no arguments"
    setup
    ;;
  help | -h | --help) usage ;;
  *) usage >&2; die "unknown command '$cmd'" ;;
esac
