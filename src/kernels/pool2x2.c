/* Max pooling over 2x2 windows with stride 2 on planes of even size, the
 * case every small CNN uses, as flat branch-free loops the compiler
 * vectorizes. The winner of a window is its first maximum in scan order
 * (as PyTorch picks it): the better of each row pair, then the bottom row
 * only if strictly greater. Both directions go through a scratch of H*W
 * floats: one pass along rows, one across them. */
#include "internal.h"
#include "kernels/vec.h"

static const vi even = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
static const vi odd = {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31};
static const vi zip_lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23};
static const vi zip_hi = {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

void eg_pool2x2_forward(float *restrict y, int32_t *restrict code, float *restrict scratch,
                        const float *restrict x, int H, int W)
{
    int OW = W / 2, pairs = H * OW;
    float *restrict hm = scratch, *restrict hk = scratch + pairs;
    /* horizontal: W is even, so pairs never straddle two rows */
    int i = 0;
    for (; i + VL <= pairs; i += VL) {
        vf v0 = vload(x + 2 * i), v1 = vload(x + 2 * i + VL);
        vf a = __builtin_shuffle(v0, v1, even), b = __builtin_shuffle(v0, v1, odd);
        vi right = b > a;
        vstore(hm + i, vselect(right, b, a));
        vstore(hk + i, vselect(right, vbroadcast(1.0f), vbroadcast(0.0f)));
    }
    for (; i < pairs; i++) {
        float a = x[2 * i], b = x[2 * i + 1];
        hm[i] = b > a ? b : a;
        hk[i] = b > a ? 1.0f : 0.0f;
    }
    for (int oy = 0; oy < H / 2; oy++) {
        const float *restrict tm = hm + (size_t)(2 * oy) * OW, *restrict bm = tm + OW;
        const float *restrict tk = hk + (size_t)(2 * oy) * OW, *restrict bk = tk + OW;
        float *restrict yr = y + (size_t)oy * OW;
        int32_t *restrict cr = code ? code + (size_t)oy * OW : NULL;
        if (cr) {
            for (int ox = 0; ox < OW; ox++) {
                int bottom = bm[ox] > tm[ox];
                yr[ox] = bottom ? bm[ox] : tm[ox];
                cr[ox] = bottom ? 2 + (int)bk[ox] : (int)tk[ox];
            }
        } else {
            for (int ox = 0; ox < OW; ox++) yr[ox] = bm[ox] > tm[ox] ? bm[ox] : tm[ox];
        }
    }
}

void eg_pool2x2_backward(float *restrict dx, const float *restrict dy, const int32_t *restrict code,
                         float *restrict scratch, int H, int W)
{
    int OW = W / 2, pairs = H * OW;
    float *restrict pv = scratch, *restrict pk = scratch + pairs;
    /* vertical: each window's gradient goes to its top or its bottom pair */
    for (int oy = 0; oy < H / 2; oy++) {
        const float *restrict d = dy + (size_t)oy * OW;
        const int32_t *restrict c = code + (size_t)oy * OW;
        float *restrict tv = pv + (size_t)(2 * oy) * OW, *restrict bv = tv + OW;
        float *restrict tk = pk + (size_t)(2 * oy) * OW, *restrict bk = tk + OW;
        for (int ox = 0; ox < OW; ox++) {
            float g = d[ox], right = (float)(c[ox] & 1);
            tv[ox] = c[ox] < 2 ? g : 0.0f;
            bv[ox] = c[ox] < 2 ? 0.0f : g;
            tk[ox] = right;
            bk[ox] = right;
        }
    }
    /* horizontal: every input lies in exactly one window, so all are written */
    int i = 0;
    for (; i + VL <= pairs; i += VL) {
        vf v = vload(pv + i), zero = vbroadcast(0.0f);
        vi right = vload(pk + i) != zero;
        vf l = vselect(right, zero, v), r = vselect(right, v, zero);
        vstore(dx + 2 * i, __builtin_shuffle(l, r, zip_lo));
        vstore(dx + 2 * i + VL, __builtin_shuffle(l, r, zip_hi));
    }
    for (; i < pairs; i++) {
        dx[2 * i] = pk[i] != 0 ? 0.0f : pv[i];
        dx[2 * i + 1] = pk[i] != 0 ? pv[i] : 0.0f;
    }
}
