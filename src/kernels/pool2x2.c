/* Max pooling over 2x2 windows with stride 2 on planes of even size, the
 * case every small CNN uses, written with vectors. The winner of a window is
 * its first maximum in scan order (as PyTorch picks it): the better of each
 * row's pair, then the bottom row only if strictly greater. A plane stacked
 * on planes of even height pools like one tall plane, so callers pass many
 * planes at once. Rows in the scratch are written with whole vectors that
 * may spill into the next row, which is written afterwards, or into a gap
 * of one vector left after each array. */
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/vec.h"

size_t EG_KERNEL(pool2x2_scratch)(int H, int W) { return (size_t)2 * H * W + 4 * VL; }

void EG_KERNEL(pool2x2_forward)(float *restrict y, int32_t *restrict code, float *restrict scratch,
                        const float *restrict x, int H, int W, int relu)
{
    int OW = W / 2, pairs = H * OW, outs = pairs / 2;
    float *hm = scratch, *hk = hm + pairs, *ys = hk + pairs + VL, *kf = ys + outs + VL;
    /* along rows: W is even, so pairs never straddle two rows */
    int i = 0;
    for (; i + VL <= pairs; i += VL) {
        vf v0 = vload(x + 2 * i), v1 = vload(x + 2 * i + VL);
        vf a = veven(v0, v1), b = vodd(v0, v1);
        vi right = b > a;
        vstore(hm + i, vselect(right, b, a));
        vstore(hk + i, vselect(right, vbroadcast(1.0f), vbroadcast(0.0f)));
    }
    for (; i < pairs; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        hm[i] = b > a ? b : a;
        hk[i] = b > a ? 1.0f : 0.0f;
    }
    /* across rows, a whole vector per output row */
    for (int r = 0; r < H / 2; r++)
        for (int c = 0; c < OW; c += VL) {
            size_t t = (size_t)(2 * r) * OW + c, o = (size_t)r * OW + c;
            vf top = vload(hm + t), bot = vload(hm + t + OW);
            vi down = bot > top;
            vf m = vselect(down, bot, top);
            vf k = vselect(down, vload(hk + t + OW) + 2.0f, vload(hk + t));  /* the winner 0..3 */
            if (relu) {
                /* relu after the max: a window whose max is not positive is
                 * 0 and sends no gradient (winner 4, which matches none) */
                vi dead = m <= vbroadcast(0.0f);
                m = vselect(dead, vbroadcast(0.0f), m);
                k = vselect(dead, vbroadcast(4.0f), k);
            }
            vstore(ys + o, m);
            vstore(kf + o, k);
        }
    memcpy(y, ys, (size_t)outs * sizeof *y);
    if (code)
        for (int j = 0; j < outs; j++) code[j] = (int32_t)kf[j];
}

void EG_KERNEL(pool2x2_backward)(float *restrict dx, const float *restrict dy, const int32_t *restrict code,
                         float *restrict scratch, int H, int W, int add)
{
    int OW = W / 2, pairs = H * OW, outs = pairs / 2;
    float *dys = scratch, *kf = dys + outs + VL, *pv = kf + outs + VL, *pk = pv + pairs + VL;
    memcpy(dys, dy, (size_t)outs * sizeof *dys);
    for (int j = 0; j < outs; j++) kf[j] = (float)code[j];
    /* across rows: each window's gradient goes to its top or its bottom
     * pair, with which of the two it is; all top rows of a row pair first,
     * since their spill lands in the bottom row */
    vf zero = vbroadcast(0.0f), one = vbroadcast(1.0f), two = vbroadcast(2.0f);
    for (int r = 0; r < H / 2; r++)
        for (int half = 0; half < 2; half++)
            for (int c = 0; c < OW; c += VL) {
                size_t o = (size_t)r * OW + c, t = (size_t)(2 * r + half) * OW + c;
                vf d = vload(dys + o), k = vload(kf + o);
                vi lower = k >= two;
                vi mine = half ? lower & (k < vbroadcast(4.0f)) : ~lower;
                vf col = vselect(lower, k - two, k);  /* 0 left, 1 right */
                vstore(pv + t, vselect(mine, d, zero));
                vstore(pk + t, vselect(col == one, one, zero));
            }
    /* along rows: every input lies in exactly one window, so all are
     * written (or added to) */
    int i = 0;
    for (; i + VL <= pairs; i += VL) {
        vf v = vload(pv + i);
        vi right = vload(pk + i) != zero;
        vf l = vselect(right, zero, v), r = vselect(right, v, zero);
        vf lo = vzip_lo(l, r), hi = vzip_hi(l, r);
        if (add) lo += vload(dx + 2 * i), hi += vload(dx + 2 * i + VL);
        vstore(dx + 2 * i, lo);
        vstore(dx + 2 * i + VL, hi);
    }
    for (; i < pairs; i++) {
        float l = pk[i] != 0 ? 0.0f : pv[i], r = pk[i] != 0 ? pv[i] : 0.0f;
        dx[2 * i] = add ? dx[2 * i] + l : l;
        dx[2 * i + 1] = add ? dx[2 * i + 1] + r : r;
    }
}
