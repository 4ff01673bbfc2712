/* This variant's kernel table (see kernels.h): its name, its vector width
 * and every kernel, compiled once per variant like the kernels. */
#include "kernels/kernels.h"
#include "kernels/vec.h"

#if defined(EG_ISA_AVX512)
#define EG_ISA_NAME "avx512"
#elif defined(EG_ISA_AVX2)
#define EG_ISA_NAME "avx2"
#elif defined(EG_ISA_NEON)
#define EG_ISA_NAME "neon"
#else
#define EG_ISA_NAME "generic"
#endif

#define EG_KERNEL_ENTRY(name) .name = EG_KERNEL(name),
const eg_kernel_table EG_KERNEL(table) = {.name = EG_ISA_NAME, .vl = VL, EG_KERNEL_LIST(EG_KERNEL_ENTRY)};
