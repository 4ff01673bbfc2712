#!/usr/bin/env bash
# edagari.sh -- set up, build, test and demo edagari on Debian.
#
#   ./edagari.sh demo [run options...]  install, fetch MNIST, build, run recipes/seed.recipe
#   ./edagari.sh test                   install, fetch MNIST, build, then the test stages:
#                                       ctest in build/, again under each lower ISA
#                                       (EG_ISA), in build-plain/ (no OpenMP, MPI or
#                                       ONNX), in build-asan/ (ASan + UBSan), fuzz
#                                       every reader, the threaded tests under TSan
#                                       (build-tsan/), a pipeline under valgrind
#                                       (build-valgrind/), the aarch64 cross-build
#                                       under qemu (build-aarch64/)
#   ./edagari.sh test-aarch64           the aarch64 stage alone (docs/aarch64.md)
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

usage() { sed -n '2,17s/^# \{0,1\}//p' "$self"; }

# apt-get the Debian packages of whatever is missing: tools found by
# command -v (command:package), the zlib headers by dpkg.
install_deps() {
  local need=() pair arch
  arch=$(dpkg --print-architecture)  # dpkg -s needs it once arm64 twins are installed
  for pair in cmake:cmake gcc:build-essential make:build-essential npm:npm jq:jq; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
  done
  dpkg -s "zlib1g-dev:$arch" >/dev/null 2>&1 || need+=(zlib1g-dev)
  dpkg -s "libopenmpi-dev:$arch" >/dev/null 2>&1 || need+=(libopenmpi-dev)  # optional: mpirun -np N edagari ...
  command -v mpirun >/dev/null || need+=(openmpi-bin)
  command -v clang >/dev/null || need+=(clang)  # the libFuzzer harnesses (tests/fuzz)
  command -v valgrind >/dev/null || need+=(valgrind)
  dpkg -s libomp-dev >/dev/null 2>&1 || need+=(libomp-dev)  # libomp and its Archer tool, for the TSan build
  # ONNX in and out (optional: the build turns it off without them)
  command -v protoc-c >/dev/null || need+=(protobuf-c-compiler)
  dpkg -s "libprotobuf-c-dev:$arch" >/dev/null 2>&1 || need+=(libprotobuf-c-dev)
  dpkg -s "libonnx-dev:$arch" >/dev/null 2>&1 || need+=(libonnx-dev)
  apt_install "${need[@]}"
}

# The aarch64 cross-build's: Debian's cross compiler and qemu-user, and the
# arm64 libraries it links (multiarch packages, which bring the arm64 libc
# that qemu runs the programs with). Open MPI's arm64 package cannot sit
# beside the amd64 one, so the cross-build has no MPI.
install_cross_deps() {
  local need=() pkg
  command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
  dpkg -s libc6-dev-arm64-cross >/dev/null 2>&1 || need+=(libc6-dev-arm64-cross)  # only recommended by the compiler
  command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
  for pkg in zlib1g-dev libgomp1 libprotobuf-c-dev; do
    dpkg -s "$pkg:arm64" >/dev/null 2>&1 || need+=("$pkg:arm64")
  done
  [ ${#need[@]} -eq 0 ] && return
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    say "adding the arm64 architecture to dpkg"
    as_root dpkg --add-architecture arm64 || die "dpkg --add-architecture arm64 failed"
  fi
  apt_install "${need[@]}"
}

# as_root command...: runs it as root, through sudo when we are not
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  else
    command -v sudo >/dev/null || die "need root (or sudo) to run: $*"
    sudo "$@"
  fi
}

# apt_install package...: apt-get update and install them (none: nothing)
apt_install() {
  local need=("$@")
  [ ${#need[@]} -eq 0 ] && return
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  say "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q </dev/null || die "apt-get update failed"
  as_root apt-get install -y -q --no-install-recommends "${need[@]}" </dev/null ||
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
# its first failing step. ctest runs two tests at a time: no test depends
# on wall time, and the stages fit the CI's time on two cores.
ctest2() { ctest --output-on-failure -j 2 "$@"; }
isa_stage() { EG_ISA=$1 ctest2 --test-dir build -LE fuzz; }
asan_stage() {
  build build-asan -DEG_SANITIZE=ON && ctest2 --test-dir build-asan -LE fuzz
}
# what a user without libgomp, Open MPI or the ONNX packages builds
plain_stage() {
  build build-plain -DEG_OPENMP=OFF -DEG_MPI=OFF -DEG_ONNX=OFF && ctest2 --test-dir build-plain -LE fuzz
}
tsan_stage() {
  build build-tsan -DEG_TSAN=ON -DEG_MPI=OFF -- --target threaded_tests &&
    ctest2 --test-dir build-tsan -L threads
}
# valgrind reports no AVX-512 in CPUID, so the AVX2 kernels run
valgrind_stage() {
  build build-valgrind -DEG_MPI=OFF -- --target edagari_cli &&
    bash tests/valgrind_pipeline.sh build-valgrind/edagari .
}

setup() {
  install_deps
  fetch_data
  say "building build/ (Release)"
  build build
}

# test_aarch64: the cross-build in build-aarch64/ and its ctest under qemu
# (the bash tests too: tests/CMakeLists.txt), but for the tests labelled
# long (tests/CMakeLists.txt says why). Returns ctest's status.
test_aarch64() {
  install_cross_deps
  build build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
  ctest2 --test-dir build-aarch64 -LE 'fuzz|long'
}

result() { [ "$1" -eq 0 ] && echo passed || echo "FAILED (ctest status $1)"; }

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
      say "stage $((${#names[@]} + 1)): $name"
      ("$@") || rc=$?
      names+=("$name") statuses+=("$rc") seconds+=($((SECONDS - t0)))
    }
    stage "ctest in build/ (Release, $(build/edagari info --isa | head -n 1))" \
      ctest2 --test-dir build -LE fuzz
    for isa in $(build/edagari info --isa | tail -n +2); do
      stage "ctest in build/ with EG_ISA=$isa" isa_stage "$isa"
    done
    stage "ctest in build-plain/ (no OpenMP, MPI or ONNX)" plain_stage
    stage "ctest in build-asan/ (ASan + UBSan)" asan_stage
    stage "fuzz: each reader's libFuzzer harness, build/" ctest2 --test-dir build -L fuzz
    stage "ThreadSanitizer: the threaded tests, build-tsan/" tsan_stage
    stage "valgrind: a short pipeline, build-valgrind/" valgrind_stage
    stage "aarch64: the cross-build in build-aarch64/, ctest under qemu-aarch64" test_aarch64
    failed=0
    say "summary"
    for i in "${!names[@]}"; do
      printf '  stage %d, %s: %s (%d s)\n' $((i + 1)) "${names[$i]}" \
        "$([ "${statuses[$i]}" -eq 0 ] && echo passed || echo "FAILED (status ${statuses[$i]})")" "${seconds[$i]}"
      [ "${statuses[$i]}" -eq 0 ] || failed=1
    done
    exit $failed
    ;;
  test-aarch64)
    [ $# -eq 0 ] || die "test-aarch64 takes no arguments"
    install_deps  # cmake, jq, protoc-c and onnx.proto for the cross-build too
    fetch_data
    say "aarch64 cross-build in build-aarch64/, ctest under qemu-aarch64"
    arm=0 t0=$SECONDS
    test_aarch64 || arm=$?
    say "build-aarch64/: $(result $arm), $((SECONDS - t0)) s"
    exit "$arm"
    ;;
  build)
    [ $# -eq 0 ] || die "build takes no arguments"
    setup
    ;;
  help | -h | --help) usage ;;
  *) usage >&2; die "unknown command '$cmd'" ;;
esac
