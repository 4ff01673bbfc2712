/* The 2x2, stride-2 max pool (with the relu folded before it, if any) read
 * straight from a convolution's output rows, which may lie ld floats apart
 * (the padded rows of conv2d.c's row-offset product): the conv writes its
 * pooled result instead of writing, cropping and re-reading its whole output
 * (graph/plan.c fuses them). Inference keeps no winner; training keeps each window's
 * winner in one byte, coded as pool2x2_forward does (pool_vec.h). The
 * backward spreads dy back onto the winners' places, in the same strided
 * rows, writing zero everywhere else. Rows of at most VL floats go two row
 * pairs to a vector (conv2's 14-wide rows fill 14 lanes instead of 7 on
 * AVX-512); a longer row's last windows are one partial vector. */
#include "kernels/kernels.h"
#include "kernels/pool_vec.h"

/* Two row pairs of at most VL floats a vector: the windows of rows r, r+1
 * in the first w/2 lanes, those of rows r+2, r+3 after them. ev and od pick
 * the windows' left and right inputs from (row r, row r+2). */
INLINE void packed_lanes(int ow, vi *ev, vi *od)
{
    for (int l = 0; l < VL; l++) (*ev)[l] = l < ow ? 2 * l : l < 2 * ow ? VL + 2 * (l - ow) : 0;
    *od = *ev + 1;
}

void EG_KERNEL(pool2x2_rows)(float *restrict y, int ldy, const float *restrict x, int ld, int rows, int w, int relu)
{
    int ow = w / 2, r = 0;
    if (w <= VL) {
        vi ev, od;
        packed_lanes(ow, &ev, &od);
        for (; r + 3 < rows; r += 4) {
            const float *a = x + (size_t)r * ld;
            vf v0 = vmax(vload_n(a, w), vload_n(a + ld, w)), v2 = vmax(vload_n(a + 2 * ld, w), vload_n(a + 3 * ld, w));
            vf m = vmax(__builtin_shuffle(v0, v2, ev), __builtin_shuffle(v0, v2, od));
            if (relu) m = vmax(m, vbroadcast(0.0f));
            float *o = y + (size_t)(r / 2) * ldy;
            vstore_part(o, m, 0, ow);
            vstore_part(o + ldy - ow, m, ow, 2 * ow);  /* lanes ow.. land at the next row's start */
        }
    }
    for (; r + 1 < rows; r += 2) {
        const float *a = x + (size_t)r * ld, *b = a + ld;
        float *o = y + (size_t)(r / 2) * ldy;
        int j = 0;
        for (; j + VL <= ow; j += VL)
            vstore(o + j, pool_vec(vload(a + 2 * j), vload(a + 2 * j + VL), vload(b + 2 * j), vload(b + 2 * j + VL), relu));
        if (j < ow) {  /* the rest of the row: partial loads and store, nothing read past it */
            int n = 2 * (ow - j);
            vf v = pool_vec(vload_n(a + 2 * j, n), vload_n(a + 2 * j + VL, n - VL), vload_n(b + 2 * j, n),
                            vload_n(b + 2 * j + VL, n - VL), relu);
            vstore_n(o + j, v, ow - j);
        }
    }
}

/* ---------------------------------------------------------- training */

/* VL outputs and their winners from 2 VL inputs of rows a and b; the
 * windows' left and right inputs are lanes ev and od of (a0, a1). */
INLINE vf pool_vec_coded(vf a0, vf a1, vf b0, vf b1, vi ev, vi od, int relu, vb *code)
{
    return pool_window_coded(__builtin_shuffle(a0, a1, ev), __builtin_shuffle(a0, a1, od),
                             __builtin_shuffle(b0, b1, ev), __builtin_shuffle(b0, b1, od), relu, code);
}

void EG_KERNEL(pool2x2_rows_coded)(float *restrict y, int ldy, uint8_t *restrict code, const float *restrict x, int ld,
                                   int rows, int w, int relu)
{
    int ow = w / 2, r = 0;
    vb k;
    if (w <= VL) {
        vi ev, od;
        packed_lanes(ow, &ev, &od);
        for (; r + 3 < rows; r += 4) {
            const float *a = x + (size_t)r * ld;
            vf v = pool_vec_coded(vload_n(a, w), vload_n(a + 2 * ld, w), vload_n(a + ld, w), vload_n(a + 3 * ld, w), ev,
                                  od, relu, &k);
            float *o = y + (size_t)(r / 2) * ldy;
            vstore_part(o, v, 0, ow);
            vstore_part(o + ldy - ow, v, ow, 2 * ow);  /* lanes ow.. land at the next row's start */
            vcodes_store(code + (size_t)(r / 2) * ow, k, 2 * ow);
        }
    }
    const vi even = EG_EVEN, odd = EG_ODD;
    for (; r + 1 < rows; r += 2) {
        const float *a = x + (size_t)r * ld, *b = a + ld;
        float *o = y + (size_t)(r / 2) * ldy;
        uint8_t *c = code + (size_t)(r / 2) * ow;
        int j = 0;
        for (; j + VL <= ow; j += VL) {
            vstore(o + j, pool_vec_coded(vload(a + 2 * j), vload(a + 2 * j + VL), vload(b + 2 * j),
                                         vload(b + 2 * j + VL), even, odd, relu, &k));
            vcodes_store(c + j, k, VL);
        }
        if (j < ow) {
            int n = 2 * (ow - j);
            vf v = pool_vec_coded(vload_n(a + 2 * j, n), vload_n(a + 2 * j + VL, n - VL), vload_n(b + 2 * j, n),
                                  vload_n(b + 2 * j + VL, n - VL), even, odd, relu, &k);
            vstore_n(o + j, v, ow - j);
            vcodes_store(c + j, k, ow - j);
        }
    }
}

/* Two rows of dx from VL windows: each dy goes to its winner's place, zero
 * to the other three. The windows of lanes z0 (z1) interleaved make top0
 * and bot0 (top1 and bot1): the two halves of a row pair's rows, or two row
 * pairs of short rows. */
INLINE void unpool_vec(vf d, vi k, vi z0, vi z1, vf *top0, vf *top1, vf *bot0, vf *bot1)
{
    vf z = vbroadcast(0.0f);
    vf tl = vselect(k == 0, d, z), tr = vselect(k == 1, d, z);
    vf bl = vselect(k == 2, d, z), br = vselect(k == 3, d, z);
    *top0 = __builtin_shuffle(tl, tr, z0), *top1 = __builtin_shuffle(tl, tr, z1);
    *bot0 = __builtin_shuffle(bl, br, z0), *bot1 = __builtin_shuffle(bl, br, z1);
}

void EG_KERNEL(unpool2x2_rows)(float *restrict dx, int ld, const float *restrict dy, const uint8_t *restrict code,
                               int rows, int w)
{
    int ow = w / 2, r = 0;
    const vi zip_lo = EG_ZIP_LO, zip_hi = EG_ZIP_HI;
    if (w <= VL) {
        vi next; /* windows ow.. interleaved: rows r+2 and r+3 */
        for (int l = 0; l < VL; l++) next[l] = ow + l / 2 + (l % 2 ? VL : 0);
        for (; r + 3 < rows; r += 4) {
            vf t0, t1, b0, b1;
            size_t at = (size_t)(r / 2) * ow;
            unpool_vec(vload_n(dy + at, 2 * ow), vcodes_load(code + at, 2 * ow), zip_lo, next, &t0, &t1, &b0, &b1);
            float *a = dx + (size_t)r * ld;
            vstore_n(a, t0, w), vstore_n(a + ld, b0, w);
            vstore_n(a + 2 * ld, t1, w), vstore_n(a + 3 * ld, b1, w);
        }
    }
    for (; r + 1 < rows; r += 2) {
        float *a = dx + (size_t)r * ld, *b = a + ld;
        const float *d = dy + (size_t)(r / 2) * ow;
        const uint8_t *c = code + (size_t)(r / 2) * ow;
        vf t0, t1, b0, b1;
        int j = 0;
        for (; j + VL <= ow; j += VL) {
            unpool_vec(vload(d + j), vcodes_load(c + j, VL), zip_lo, zip_hi, &t0, &t1, &b0, &b1);
            vstore(a + 2 * j, t0), vstore(a + 2 * j + VL, t1);
            vstore(b + 2 * j, b0), vstore(b + 2 * j + VL, b1);
        }
        if (j == ow) continue;
        unpool_vec(vload_n(d + j, ow - j), vcodes_load(c + j, ow - j), zip_lo, zip_hi, &t0, &t1, &b0, &b1);
        int n = 2 * (ow - j);
        vstore_n(a + 2 * j, t0, n), vstore_n(a + 2 * j + VL, t1, n - VL);
        vstore_n(b + 2 * j, b0, n), vstore_n(b + 2 * j + VL, b1, n - VL);
    }
}
