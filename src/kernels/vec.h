/* The vector primitives every kernel is written with: GCC vector extensions
 * of VL floats, VL set by the ISA variant the file is compiled for
 * (kernels.h): 16 for AVX-512, 8 for AVX2, 4 for NEON and for generic code
 * (SSE2 on any x86-64, NEON on any aarch64, scalar code elsewhere).
 * Loads and stores of part of a vector, reductions and shuffles have one
 * meaning on every ISA, so a kernel is written once; only the few that gain
 * from an ISA's own instructions have a branch for it. */
#ifndef EG_VEC_H
#define EG_VEC_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(EG_ISA_AVX512) || defined(EG_ISA_AVX2)
#include <immintrin.h>
#endif

#if defined(EG_ISA_AVX512)
#define VL 16
#define EG_VREGS 32
#elif defined(EG_ISA_AVX2)
#define VL 8
#define EG_VREGS 16
#elif defined(EG_ISA_NEON)
#define VL 4
#define EG_VREGS 32
#else
#define VL 4
#define EG_VREGS 16
#endif

typedef float vf __attribute__((vector_size(VL * sizeof(float))));
typedef float vf_unaligned __attribute__((vector_size(VL * sizeof(float)), aligned(4)));
typedef int32_t vi __attribute__((vector_size(VL * sizeof(int32_t))));
typedef uint8_t vb __attribute__((vector_size(VL)));  /* VL bytes: a pool's winner codes */

#define INLINE static inline __attribute__((always_inline))

/* Vector types alias their element type, so these are plain loads/stores. */
INLINE vf vload(const float *p) { return *(const vf_unaligned *)p; }
INLINE void vstore(float *p, vf v) { *(vf_unaligned *)p = v; }
/* a - 0 is a for every a, -0 and NaN included, so this is a broadcast. */
INLINE vf vbroadcast(float a) { return a - (vf){0}; }
/* Lane by lane: mask ? a : b, for a mask from a vector comparison. */
INLINE vf vselect(vi mask, vf a, vf b) { return (vf)((mask & (vi)a) | (~mask & (vi)b)); }
/* Lanes 0, 1, 2, ...: for masks made by comparison. */
INLINE vi viota(void)
{
    vi v;
    for (int l = 0; l < VL; l++) v[l] = l;
    return v;
}

/* Lane by lane: b where b > a, else a (a where they tie or b is NaN): the
 * order the pools take maxima in, so fused and plain pools agree bit for
 * bit. It is exactly what MAXPS(b, a) returns. */
INLINE vf vmax(vf a, vf b)
{
#if defined(EG_ISA_AVX512)
    return (vf)_mm512_max_ps((__m512)b, (__m512)a);
#elif defined(EG_ISA_AVX2)
    return (vf)_mm256_max_ps((__m256)b, (__m256)a);
#else
    return vselect(b > a, b, a);
#endif
}

/* acc + a b as vector code computes it, for the scalar twins of vector
 * kernels: fused where the machine has FMA. The compiler fuses vector
 * multiply-adds but need not fuse scalar ones, and a row's bits would then
 * depend on the path, that is on the batch size. */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
#define EG_HAVE_FMA 1
#endif
INLINE float eg_madd(float a, float b, float acc)
{
#ifdef EG_HAVE_FMA
    return fmaf(a, b, acc);
#else
    return acc + a * b;
#endif
}

/* ------------------------------------------- parts of a vector in memory */

#ifdef EG_ISA_AVX512
/* The first n lanes (none for n <= 0, all for n >= VL). */
INLINE __mmask16 vlanes(int n) { return n >= VL ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }
#endif
#ifdef EG_ISA_AVX2
/* -1 in lanes [lo, hi), for vmaskmovps. */
INLINE __m256i vlanes_between(int lo, int hi)
{
    vi l = viota();
    return (__m256i)((l >= lo) & (l < hi));
}
#endif

/* Lanes [lo, hi) of the vector at p (0 <= lo <= hi <= VL); the others are
 * zero and their memory is never touched, so p + lo .. p + hi - 1 may be
 * all there is. */
INLINE vf vload_part(const float *p, int lo, int hi)
{
#if defined(EG_ISA_AVX512)
    return (vf)_mm512_maskz_loadu_ps((__mmask16)(vlanes(hi) & ~vlanes(lo)), p);
#elif defined(EG_ISA_AVX2)
    return (vf)_mm256_maskload_ps(p, vlanes_between(lo, hi));
#else
    vf v = vbroadcast(0.0f);
    for (int l = lo; l < hi; l++) v[l] = p[l];
    return v;
#endif
}

INLINE void vstore_part(float *p, vf v, int lo, int hi)
{
#if defined(EG_ISA_AVX512)
    _mm512_mask_storeu_ps(p, (__mmask16)(vlanes(hi) & ~vlanes(lo)), (__m512)v);
#elif defined(EG_ISA_AVX2)
    _mm256_maskstore_ps(p, vlanes_between(lo, hi), (__m256)v);
#else
    for (int l = lo; l < hi; l++) p[l] = v[l];
#endif
}

/* The first n lanes (n may be <= 0 or >= VL). */
INLINE vf vload_n(const float *p, int n) { return n >= VL ? vload(p) : vload_part(p, 0, n < 0 ? 0 : n); }
INLINE void vstore_n(float *p, vf v, int n)
{
    if (n >= VL) vstore(p, v);
    else vstore_part(p, v, 0, n < 0 ? 0 : n);
}

/* Pooling winner codes: VL bytes to and from int lanes. GCC lowers the
 * generic conversions lane by lane where the ISA has a widening load and a
 * pack, so those are spelled out. */
INLINE vi vcodes_widen(vb k)
{
#if defined(EG_ISA_AVX512)
    return (vi)_mm512_cvtepu8_epi32((__m128i)k);
#elif defined(EG_ISA_AVX2)
    return (vi)_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)k));
#else
    return __builtin_convertvector(k, vi);
#endif
}
INLINE vb vcodes_narrow(vi k)
{
#if defined(EG_ISA_AVX512)
    return (vb)_mm512_cvtepi32_epi8((__m512i)k);
#elif defined(EG_ISA_AVX2)
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128((__m256i)k), _mm256_extracti128_si256((__m256i)k, 1));
    return (vb)_mm_cvtsi128_si64(_mm_packus_epi16(w, w));
#else
    return __builtin_convertvector(k, vb);
#endif
}

/* n <= VL codes from c, and to c. */
INLINE vi vcodes_load(const uint8_t *c, int n)
{
    vb k = {0};
    if (n >= VL) memcpy(&k, c, VL);
    else
        for (int l = 0; l < n; l++) k[l] = c[l];
    return vcodes_widen(k);
}
INLINE void vcodes_store(uint8_t *c, vb k, int n)
{
    if (n >= VL) memcpy(c, &k, VL);
    else
        for (int l = 0; l < n; l++) c[l] = k[l];
}

/* v where the code is w, else zero: a window's gradient to one place. */
INLINE vf vwhere_code(vi code, int w, vf v)
{
#ifdef EG_ISA_AVX512
    return (vf)_mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask((__m512i)code, _mm512_set1_epi32(w)), (__m512)v);
#else
    return vselect(code == w, v, vbroadcast(0.0f));
#endif
}

/* ------------------------------------------------------------- shuffles */

#if VL == 16
#define EG_EVEN {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}
#define EG_ODD {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}
#define EG_ZIP_LO {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23}
#define EG_ZIP_HI {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31}
#define EG_LOG2_VL 4
#elif VL == 8
#define EG_EVEN {0, 2, 4, 6, 8, 10, 12, 14}
#define EG_ODD {1, 3, 5, 7, 9, 11, 13, 15}
#define EG_ZIP_LO {0, 8, 1, 9, 2, 10, 3, 11}
#define EG_ZIP_HI {4, 12, 5, 13, 6, 14, 7, 15}
#define EG_LOG2_VL 3
#else
#define EG_EVEN {0, 2, 4, 6}
#define EG_ODD {1, 3, 5, 7}
#define EG_ZIP_LO {0, 4, 1, 5}
#define EG_ZIP_HI {2, 6, 3, 7}
#define EG_LOG2_VL 2
#endif

/* Lanes 0, 2, 4, ... and 1, 3, 5, ... of the pair (a, b): the left and
 * right inputs of 2x2 windows. */
INLINE vf veven(vf a, vf b) { return __builtin_shuffle(a, b, (vi)EG_EVEN); }
INLINE vf vodd(vf a, vf b) { return __builtin_shuffle(a, b, (vi)EG_ODD); }
/* a0 b0 a1 b1 ... of the first and of the second halves. */
INLINE vf vzip_lo(vf a, vf b) { return __builtin_shuffle(a, b, (vi)EG_ZIP_LO); }
INLINE vf vzip_hi(vf a, vf b) { return __builtin_shuffle(a, b, (vi)EG_ZIP_HI); }

/* Transposes VL vectors in place (v[j][r] becomes the old v[r][j]):
 * log2(VL) rounds of interleaving v[i] with v[i + VL/2] ("perfect
 * shuffles"). */
INLINE void vtranspose(vf v[VL])
{
#ifdef EG_ISA_AVX2
    /* in-lane unpacks and shuffles, then the 128-bit halves swapped: 24
     * instructions, where the generic rounds cross lanes every time */
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps((__m256)v[i], (__m256)v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps((__m256)v[i], (__m256)v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        v[i] = (vf)_mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        v[i + 4] = (vf)_mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
#else
    for (int round = 0; round < EG_LOG2_VL; round++) {
        vf t[VL];
        for (int i = 0; i < VL / 2; i++) {
            t[2 * i] = vzip_lo(v[i], v[i + VL / 2]);
            t[2 * i + 1] = vzip_hi(v[i], v[i + VL / 2]);
        }
        for (int i = 0; i < VL; i++) v[i] = t[i];
    }
#endif
}

/* The sum of a vector's lanes, in one order on every ISA: each lane l
 * added to lane l + VL/2, then l + VL/4, ..., down to lanes 0 and 1. */
#if VL == 16
#define EG_HALVES(h) {h, h + 1, h + 2, h + 3, h + 4, h + 5, h + 6, h + 7, 0, 0, 0, 0, 0, 0, 0, 0}
#elif VL == 8
#define EG_HALVES(h) {h, h + 1, h + 2, h + 3, 0, 0, 0, 0}
#else
#define EG_HALVES(h) {h, h + 1, 0, 0}
#endif
INLINE float vhsum(vf t)
{
#if VL == 16
    t += __builtin_shuffle(t, (vi)EG_HALVES(8));
#endif
#if VL >= 8
    t += __builtin_shuffle(t, (vi)EG_HALVES(4));
#endif
    t += __builtin_shuffle(t, (vi)EG_HALVES(2));
    return t[0] + t[1];
}

/* Lane i of the result is the sum of v[i]'s lanes: VL horizontal sums in
 * log2(VL) rounds of pairwise shuffles instead of VL serial reductions.
 * Round r (half-width h = VL >> r) adds each partial sum's two halves and
 * packs two vectors' partial sums into one: lane l takes the lanes
 * (l / h) 2h + l % h and that + h of the pair. */
#if VL == 16
#define EG_HSUM_ROUNDS                                                                                    \
    {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}, {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27}, \
     {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29}, EG_EVEN}
#define EG_HSUM_HALVES {8, 4, 2, 1}
#elif VL == 8
#define EG_HSUM_ROUNDS {{0, 1, 2, 3, 8, 9, 10, 11}, {0, 1, 4, 5, 8, 9, 12, 13}, EG_EVEN}
#define EG_HSUM_HALVES {4, 2, 1}
#else
#define EG_HSUM_ROUNDS {{0, 1, 4, 5}, EG_EVEN}
#define EG_HSUM_HALVES {2, 1}
#endif
INLINE vf vhsum_many(const vf v[VL])
{
    static const vi lo[EG_LOG2_VL] = EG_HSUM_ROUNDS;
    static const int half[EG_LOG2_VL] = EG_HSUM_HALVES;
    vf w[VL];
    for (int i = 0; i < VL; i++) w[i] = v[i];
    for (int r = 0, n = VL; r < EG_LOG2_VL; r++, n /= 2)
        for (int i = 0; i < n / 2; i++)
            w[i] = __builtin_shuffle(w[2 * i], w[2 * i + 1], lo[r]) +
                   __builtin_shuffle(w[2 * i], w[2 * i + 1], lo[r] + half[r]);
    return w[0];
}

#endif
