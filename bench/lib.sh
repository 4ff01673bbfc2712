# Helpers shared by bench/seed_vs_pytorch.sh and bench/inference_vs_pytorch.sh;
# each sources it with
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# right after `set -euo pipefail`. It sets repo, reference, cache, python,
# data and edagari (the defaults both scripts share) and defines the helpers
# below; it runs nothing.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
reference=${EDAGARI_REFERENCE:-/work/shared/reference/seed_pipeline.py}
cache=${EDAGARI_BENCH_CACHE:-$repo/bench/.cache}
python=/usr/bin/python3
data=$repo/data/mnist
edagari=$repo/build/edagari

bench_script=${BASH_SOURCE[1]}           # the script that sourced this file
bench_name=$(basename "$bench_script" .sh)

# usage: the script's "# Usage:" comment, up to "# Needs:"
usage() { sed -n '/^# Usage:/,/^# Needs:/p' "$bench_script" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "$bench_name: $*" >&2; exit 1; }
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }

# need_torch PACKAGES: /usr/bin/python3 exists and imports torch (PACKAGES:
# what the message says to apt-get install); the reference program exists
need_torch() {
  [ -x "$python" ] || die "$python not found (the PyTorch side needs Debian's python3)"
  "$python" -c 'import torch' 2>/dev/null ||
    die "$python cannot import torch; install it with: apt-get install $1"
}
need_reference() {
  [ -f "$reference" ] || die "reference program not found: $reference (set EDAGARI_REFERENCE)"
}

# build_edagari yes|no: configures and builds <repo>/build when its binary is
# missing; with yes, rebuilds it when present
build_edagari() {
  if [ ! -x "$repo/build/edagari" ]; then
    echo "== building edagari ($repo/build)"
    cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$repo/build" -j"$(nproc)" >/dev/null
  elif [ "$1" = yes ]; then
    echo "== rebuilding edagari ($repo/build)"
    cmake --build "$repo/build" -j"$(nproc)" >/dev/null
  fi
}

# note_if_stale BIN: a note when a source file is newer than BIN
note_if_stale() {
  if [ -n "$(find "$repo/src" "$repo/include" -newer "$1" -name '*.[ch]' -print -quit)" ]; then
    echo "note: some sources are newer than $1 (pass --build to rebuild first)"
  fi
}

# fetch_mnist: runs scripts/fetch_mnist.sh when a file of $data is missing
fetch_mnist() {
  local f
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ ! -f "$data/$f" ]; then
      echo "== MNIST missing in $data: running scripts/fetch_mnist.sh"
      "$repo/scripts/fetch_mnist.sh" "$data"
      break
    fi
  done
}

# make_tmp: $tmp, a fresh folder removed on exit, made the working directory
# so nothing the programs write lands in the caller's cwd
make_tmp() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$bench_name.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  trap 'exit 130' INT TERM
  cd "$tmp"
}

# private_edagari: runs a private copy of the binary from now on, so that a
# rebuild of build/ during the benchmark (someone working on the kernels)
# cannot mix two builds. Sets edagari_src (the original), edagari_sum,
# edagari_built, and edagari=$tmp/edagari.
private_edagari() {
  edagari_src=$edagari
  cp "$edagari" "$tmp/edagari"
  edagari_sum=$(sha256sum "$edagari" | cut -c1-12)
  edagari_built=$(date -r "$edagari" '+%Y-%m-%d %H:%M:%S')
  edagari=$tmp/edagari
}

# Which BLAS does torch really load under an environment?  (paths from /proc/self/maps)
loaded_blas() {
  "$@" "$python" -c 'import torch
libs = {l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.rsplit("/", 1)[-1]}
print(" ".join(sorted(libs)) or "none")'
}

# OpenBLAS for pytorch-fast, through LD_LIBRARY_PATH only (nothing on the
# system changes). The library is fetched once with `apt-get download
# libopenblas0-openmp` + `dpkg-deb -x` into $cache; its libblas.so.3 lives in
# <extract>/usr/lib/<multiarch>/openblas-openmp/. Sets blas_dir, fast_env (an
# env command) and fast_blas (what torch loads under it), and dies unless
# torch loads OpenBLAS from blas_dir.
openblas_lib() { find "$cache/libopenblas0-openmp" -path '*/openblas-openmp/libblas.so.3' 2>/dev/null | head -n1; }
setup_openblas() {
  local blas_lib
  blas_lib=$(openblas_lib || true)
  if [ -z "$blas_lib" ]; then
    echo "== fetching OpenBLAS (OpenMP build) into $cache"
    mkdir -p "$cache"
    rm -rf "$cache/libopenblas0-openmp" "$cache"/libopenblas0-openmp_*.deb
    (cd "$cache" && apt-get download libopenblas0-openmp) >"$tmp/apt.log" 2>&1 || {
      cat "$tmp/apt.log" >&2
      die "apt-get download libopenblas0-openmp failed (are the apt lists there? try apt-get update)"
    }
    dpkg-deb -x "$cache"/libopenblas0-openmp_*.deb "$cache/libopenblas0-openmp"
    blas_lib=$(openblas_lib)
    [ -n "$blas_lib" ] || die "no openblas-openmp/libblas.so.3 in the extracted libopenblas0-openmp package"
  fi
  blas_dir=$(dirname "$blas_lib")
  fast_env=(env "LD_LIBRARY_PATH=$blas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  fast_blas=$(loaded_blas "${fast_env[@]}")
  case $fast_blas in
    *"$blas_dir"*) ;;
    *) die "pytorch-fast does not load OpenBLAS from $blas_dir (it loads: $fast_blas)" ;;
  esac
}

# source_state: git_desc (the commit) and git_dirty (how many source files differ from it)
source_state() {
  git_desc=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo "?")
  git_dirty=$(git -C "$repo" status --porcelain -- src include CMakeLists.txt 2>/dev/null | wc -l)
}

# machine: "<cpu model>, N cores, load average a b c"
machine() {
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

# fmt_ratio A B -> A / B as "3.7x" / "14x" / "0.42x" ("n/a" when B <= 0)
fmt_ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (b <= 0) { print "n/a"; exit }
    r = a / b
    if (r >= 10) printf "%.0fx", r; else if (r >= 1) printf "%.1fx", r; else printf "%.2fx", r }'
}

is_isa() { [[ $1 =~ ^(avx512|avx2|generic)$ ]]; }

# hold_isa NAME: edagari runs its NAME kernels (edagari_env: EG_ISA=NAME);
# for avx2 the PyTorch setups are held to AVX2 as well, as on a CPU without
# AVX-512 (ONEDNN_MAX_CPU_ISA for oneDNN, OPENBLAS_CORETYPE for OpenBLAS),
# appended to default_env and fast_env. Empty NAME: every program at its
# best. Sets isa_note, a line for the header.
hold_isa() {
  edagari_env=(env)
  isa_note="each program's best"
  [ -n "$1" ] || return 0
  edagari_env=(env "EG_ISA=$1")
  isa_note="edagari $1; PyTorch at its default"
  if [ "$1" = avx2 ]; then
    isa_note="edagari avx2; PyTorch ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell"
    default_env+=(ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell)
    fast_env+=(ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell)
  fi
}
