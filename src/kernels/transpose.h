/* Transposing 16 x 16 blocks in vector registers (transpose.c, and csr.c
 * for its sums). Kept out of vec.h because
 * __builtin_shuffle is GCC's alone, and vec.h is also read by code that the
 * clang-built fuzz harnesses compile. */
#ifndef EG_TRANSPOSE_H
#define EG_TRANSPOSE_H

#include "kernels/vec.h"

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

#endif
