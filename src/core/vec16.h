/* Vectors of 16 floats for sums whose order must not depend on the CPU:
 * a batchnorm's statistics and a penalty's value are summed in 16 lanes on
 * every ISA variant, so they have the same bits everywhere. GCC maps them
 * to whatever vector registers the baseline has. */
#ifndef EG_VEC16_H
#define EG_VEC16_H

#include <stdint.h>

typedef float f16v __attribute__((vector_size(16 * sizeof(float)), aligned(4)));
typedef int32_t i16v __attribute__((vector_size(16 * sizeof(int32_t))));

#define V16_INLINE static inline __attribute__((always_inline))
V16_INLINE f16v v16_load(const float *p) { return *(const f16v *)p; }
V16_INLINE void v16_store(float *p, f16v v) { *(f16v *)p = v; }
V16_INLINE f16v v16_select(i16v mask, f16v a, f16v b) { return (f16v)((mask & (i16v)a) | (~mask & (i16v)b)); }

#endif
