#!/usr/bin/env bash
# gemm_vs_openblas.sh -- edagari's GEMM kernels against OpenBLAS's cblas_sgemm
# on SimpleCNN's training shapes (and a few larger ones), single-threaded,
# side by side. Builds bench/gemm_vs_openblas.c into a temporary directory
# with gcc -std=gnu11 -O3 against build/libedagari.a (its kernels, on the
# path EG_ISA chooses, else the best this CPU runs; one thread) and
# -lopenblas, then prints the table for each OpenBLAS core setting:
#   as-is   the environment as it is (OPENBLAS_CORETYPE whatever it is set to);
#   unset   OPENBLAS_CORETYPE removed, so OpenBLAS picks its kernels for this
#           CPU (its AVX-512 SkylakeX-family kernels where the CPU has them);
#   haswell OPENBLAS_CORETYPE=Haswell (AVX2 kernels), only when the
#           environment does not already set Haswell, so the Haswell figures
#           are always shown.
#
# This is a benchmark: it installs nothing. It needs gcc and libopenblas-dev.
#
# Usage: bench/gemm_vs_openblas.sh [samples per round, default 15]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
samples=${1:-15}

if ! dpkg -s libopenblas-dev >/dev/null 2>&1 ||
    [ "$(dpkg-query -W -f='${Status}' libopenblas-dev 2>/dev/null)" != "install ok installed" ]; then
    echo "libopenblas-dev is not installed; install it with:" >&2
    echo "  apt-get update && apt-get install -y libopenblas-dev" >&2
    exit 1
fi
command -v gcc >/dev/null || { echo "gcc not found (apt-get install -y gcc)" >&2; exit 1; }

# Which OpenBLAS build libopenblas.so resolves to (pthread, openmp or serial),
# and the cblas.h that the same -dev package ships.
multiarch=$(gcc -print-multiarch 2>/dev/null || true)
[ -n "$multiarch" ] || multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
lib=$(readlink -f "/usr/lib/$multiarch/libopenblas.so" || true)
if [ -z "$lib" ] || [ ! -e "$lib" ]; then
    echo "libopenblas.so not found under /usr/lib/$multiarch (is libopenblas-dev complete?)" >&2
    exit 1
fi
libdir=$(dirname "$lib")
variant=$(basename "$libdir")  # openblas-pthread, openblas-openmp or openblas-serial
incdir=""
for pkg in "lib${variant}-dev" libopenblas-pthread-dev libopenblas-openmp-dev libopenblas-serial-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || continue
    h=$(dpkg -L "$pkg" | grep "/$variant/cblas.h\$" | head -n1 || true)
    [ -n "$h" ] || h=$(dpkg -L "$pkg" | grep '/cblas.h$' | head -n1 || true)
    if [ -n "$h" ]; then
        incdir=$(dirname "$h")
        break
    fi
done
if [ -z "$incdir" ]; then
    echo "no cblas.h found in the installed libopenblas-*-dev packages" >&2
    exit 1
fi

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
bin="$build/gemm_vs_openblas"
cflags=(-std=gnu11 -O3 -fno-math-errno -Wall -Wextra)
[ -f "$repo/build/libedagari.a" ] || cmake --build "$repo/build" --target edagari >/dev/null ||
  { echo "no $repo/build/libedagari.a: run ./edagari.sh build first" >&2; exit 1; }
echo "compiler: $(gcc --version | head -n1)"
echo "OpenBLAS: $lib (cblas.h from $incdir, package $(dpkg-query -W -f='${Version}' libopenblas-dev))"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores;" \
    "AVX-512F: $(grep -q -w avx512f /proc/cpuinfo && echo yes || echo no)"
echo "edagari kernels: ${EG_ISA:-the best this CPU runs} (EG_ISA=avx2 or generic forces a lower path)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
gcc "${cflags[@]}" -I"$repo/include" -I"$repo/src" -I"$incdir" \
    "$here/gemm_vs_openblas.c" "$repo/build/libedagari.a" \
    -L"$libdir" -Wl,-rpath,"$libdir" -lopenblas -fopenmp -lz -lm -o "$bin"

export OPENBLAS_NUM_THREADS=1
export OMP_NUM_THREADS=1
status=0
echo
"$bin" "as-is (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-unset})" "$samples" || status=1
echo
env -u OPENBLAS_CORETYPE "$bin" "unset (OPENBLAS_CORETYPE removed: OpenBLAS detects the CPU)" "$samples" || status=1
if [ "${OPENBLAS_CORETYPE-}" != "Haswell" ]; then
    echo
    echo "(the environment does not set OPENBLAS_CORETYPE=Haswell; a third run forces it)"
    OPENBLAS_CORETYPE=Haswell "$bin" "haswell (OPENBLAS_CORETYPE=Haswell forced)" "$samples" || status=1
fi
exit $status
