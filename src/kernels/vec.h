/* GCC vector-extension helpers shared by the kernels: 16 floats per vector,
 * which the compiler maps to AVX-512, or to pairs of AVX2 registers. */
#ifndef EG_VEC_H
#define EG_VEC_H

#include <math.h>
#include <stdint.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

#define VL 16
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef float vf_unaligned __attribute__((vector_size(VL * sizeof(float)), aligned(4)));
typedef int32_t vi __attribute__((vector_size(VL * sizeof(int32_t))));

#define INLINE static inline __attribute__((always_inline))

/* Vector types alias their element type, so these are plain loads/stores. */
INLINE vf vload(const float *p) { return *(const vf_unaligned *)p; }
INLINE void vstore(float *p, vf v) { *(vf_unaligned *)p = v; }
INLINE vf vbroadcast(float a) { return (vf){a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a}; }
/* Lane by lane: mask ? a : b, for a mask from a vector comparison. */
INLINE vf vselect(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }
/* Lane by lane: b where b > a, else a (a where they tie or b is NaN): the
 * order the pools take maxima in, so fused and plain pools agree bit for bit.
 * That is exactly what MAXPS(b, a) returns; GCC does not see it and emits a
 * compare and two masked logic operations. */
INLINE vf vmax(vf a, vf b)
{
#ifdef __AVX512F__
    return (vf)_mm512_max_ps((__m512)b, (__m512)a);
#else
    return vselect(b > a, b, a);
#endif
}

/* acc + a b as vector code computes it, for the scalar twins of vector
 * kernels: fused where the machine has FMA. The compiler fuses vector
 * multiply-adds but need not fuse scalar ones (it did not in the CSR
 * kernel's path for one sample and one output), and a row's bits would
 * then depend on the path, that is on the batch size. */
INLINE float eg_madd(float a, float b, float acc)
{
#ifdef __FMA__
    return fmaf(a, b, acc);
#else
    return acc + a * b;
#endif
}

#ifdef __AVX512F__
/* The first n lanes (none for n <= 0, all for n >= VL), for masked loads
 * and stores. */
INLINE __mmask16 vlanes(int n) { return n >= VL ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }
#endif

#endif
