# Cross-build for 64-bit ARM Linux (aarch64) with Debian's cross compiler
# (gcc-aarch64-linux-gnu); ctest runs the programs under qemu-user.
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#
# Libraries come from Debian's arm64 multiarch packages (zlib1g-dev:arm64,
# libgomp1:arm64, libprotobuf-c-dev:arm64) in /usr/lib/aarch64-linux-gnu,
# which the cross compiler searches. The same packages bring libc6:arm64 and
# its loader /lib/ld-linux-aarch64.so.1, so at run time the multiarch root,
# /, is a whole arm64 system and qemu needs no other one.
# docs/aarch64.md says more.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

find_program(EG_QEMU_AARCH64 qemu-aarch64)
if(NOT EG_QEMU_AARCH64)
  message(FATAL_ERROR "qemu-aarch64 not found (apt-get install qemu-user)")
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR ${EG_QEMU_AARCH64} -L /)

# The default target, armv8-a, runs on any 64-bit ARM (Raspberry Pi 3 and
# later, every Graviton); the kernels come as neon and generic variants.
# Debian's libopenmpi-dev:arm64 cannot be installed beside the amd64 one
# (apt would remove it): the single-process build; the native one tests MPI.
set(EG_MPI OFF CACHE BOOL "data-parallel runs under mpirun when Open MPI (libopenmpi-dev) is found")
