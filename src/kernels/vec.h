/* GCC vector-extension helpers shared by the kernels: 16 floats per vector,
 * which the compiler maps to AVX-512, or to pairs of AVX2 registers. */
#ifndef EG_VEC_H
#define EG_VEC_H

#include <stdint.h>

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

/* Transposes 16 vectors in place (v[j][r] becomes the old v[r][j]): four
 * rounds of interleaving v[i] with v[i + 8] ("perfect shuffles") transpose
 * a 16 x 16 block. */
INLINE void vtranspose16(vf v[16])
{
    static const vi lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
    static const vi hi = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    for (int round = 0; round < 4; round++) {
        vf t[16];
        for (int i = 0; i < 8; i++) {
            t[2 * i] = __builtin_shuffle(v[i], v[i + 8], lo);
            t[2 * i + 1] = __builtin_shuffle(v[i], v[i + 8], hi);
        }
        for (int i = 0; i < 16; i++) v[i] = t[i];
    }
}

/* xt [in, VL] = the first m (<= VL) rows of x [., ldx], transposed: lane r
 * of xt + c*VL is x[r][c], lanes from m on are zero. A full tile goes 16 x
 * 16 blocks at a time through vtranspose16. */
INLINE void vtile_transpose(float *xt, const float *x, int ldx, int m, int in)
{
    int c = 0;
    if (m < VL) {
        for (int k = 0; k < in * VL; k++) xt[k] = 0;
    } else {
        for (; c + VL <= in; c += VL) {
            vf v[VL];
            for (int r = 0; r < VL; r++) v[r] = vload(x + (size_t)r * ldx + c);
            vtranspose16(v);
            for (int j = 0; j < VL; j++) vstore(xt + (size_t)(c + j) * VL, v[j]);
        }
    }
    for (int r = 0; r < m; r++)
        for (int k = c; k < in; k++) xt[(size_t)k * VL + r] = x[(size_t)r * ldx + k];
}

#endif
