/* The weight and bias gradients of a pooled stride-1 convolution in batch
 * lanes (src/layers/conv2d.c trains pooled convs in lanes): the
 * pooled gradient goes back to each window's winner, lane by lane (each
 * image has its own), and every output position's gradient multiplies the
 * KS x KS input vectors under it into one accumulator per weight; the
 * lanes (the VL images) are summed at the end. So the sums run in another
 * order than the image-by-image gradient's (which sums images 8 at a
 * time): the same within rounding, not the same bits. */
#include "kernels/kernels.h"
#include "kernels/vec.h"

INLINE float hsum(vf v) { return vhsum(v); }

/* Output m's gradient on input channel c, the weights of filter rows k0 ..
 * k0 + R - 1 (those below KS), and its bias's when db is set. */
INLINE void band(int KS, int R, int k0, int m, int c, int C, int ph, int pw, const float *x, int xh, int xw,
                 const float *dyp, const uint8_t *codes, float *dw, float *db)
{
    vf acc[3][5], bacc = vbroadcast(0.0f);  /* R <= 3 rows of KS <= 5 */
    for (int ky = 0; ky < R; ky++)
        for (int kx = 0; kx < KS; kx++) acc[ky][kx] = vbroadcast(0.0f);
    const float *plane = x + (size_t)c * xh * xw * VL;
    for (int py = 0; py < ph; py++)
        for (int px = 0; px < pw; px++) {
            size_t q = ((size_t)m * ph + py) * pw + px;
            vf d = vload(dyp + q * VL);
            vi code = vcodes_load(codes + q * VL, VL);
#pragma GCC unroll 4
            for (int w = 0; w < 4; w++) {  /* the window's places: code w is row w / 2, column w % 2 */
                vf g = vwhere_code(code, w, d);
                const float *at = plane + ((size_t)(2 * py + w / 2 + k0) * xw + 2 * px + w % 2) * VL;
                if (db) bacc += g;
#pragma GCC unroll 3
                for (int ky = 0; ky < R; ky++)
#pragma GCC unroll 5
                    for (int kx = 0; kx < KS; kx++) acc[ky][kx] += g * vload(at + ((size_t)ky * xw + kx) * VL);
            }
        }
    for (int ky = 0; ky < R; ky++)
        for (int kx = 0; kx < KS; kx++) dw[(((size_t)m * C + c) * KS + k0 + ky) * KS + kx] += hsum(acc[ky][kx]);
    if (db) db[m] += hsum(bacc);
}

/* A 3x3 filter's weights in one pass, a larger one's two rows a pass, so
 * that the accumulators stay in registers (in one pass GCC spilled a 5x5
 * filter's 25; three rows a pass were slower than two). */
INLINE void one_channel(int KS, int m, int c, int C, int ph, int pw, const float *x, int xh, int xw, const float *dyp,
                        const uint8_t *codes, float *dw, float *db)
{
    if (KS <= 3) {
        band(KS, KS, 0, m, c, C, ph, pw, x, xh, xw, dyp, codes, dw, db);
        return;
    }
    band(KS, 2, 0, m, c, C, ph, pw, x, xh, xw, dyp, codes, dw, db);
    band(KS, 2, 2, m, c, C, ph, pw, x, xh, xw, dyp, codes, dw, NULL);
    if (KS == 5) band(KS, 1, 4, m, c, C, ph, pw, x, xh, xw, dyp, codes, dw, NULL);
}

INLINE void kernel_size(int KS, int M, int C, int ph, int pw, const float *x, int xh, int xw, const float *dyp,
                        const uint8_t *codes, float *dw, float *db)
{
    for (int m = 0; m < M; m++)
        for (int c = 0; c < C; c++) one_channel(KS, m, c, C, ph, pw, x, xh, xw, dyp, codes, dw, c ? NULL : db);
}

void EG_KERNEL(lanes_conv_grad_pooled)(int M, int C, int KS, int oh, int ow, const float *x, int xh, int xw,
                                       const float *dyp, const uint8_t *codes, float *dw, float *db)
{
    int ph = oh / 2, pw = ow / 2;
    switch (KS) {  /* at most EG_LANES_MAX_KERNEL */
    case 1: kernel_size(1, M, C, ph, pw, x, xh, xw, dyp, codes, dw, db); break;
    case 2: kernel_size(2, M, C, ph, pw, x, xh, xw, dyp, codes, dw, db); break;
    case 3: kernel_size(3, M, C, ph, pw, x, xh, xw, dyp, codes, dw, db); break;
    case 4: kernel_size(4, M, C, ph, pw, x, xh, xw, dyp, codes, dw, db); break;
    default: kernel_size(5, M, C, ph, pw, x, xh, xw, dyp, codes, dw, db); break;
    }
}

void EG_KERNEL(lanes_spread)(float *d, int M, int ph, int pw, int xh, int xw, int pad, const float *dyp,
                             const uint8_t *codes)
{
    for (int m = 0; m < M; m++)
        for (int py = 0; py < ph; py++)
            for (int px = 0; px < pw; px++) {
                size_t q = ((size_t)m * ph + py) * pw + px;
                vi code = vcodes_load(codes + q * VL, VL);
                vf v = vload(dyp + q * VL);
                float *at = d + (((size_t)m * xh + pad + 2 * py) * xw + pad + 2 * px) * VL;
                for (int w = 0; w < 4; w++)  /* code w: row w / 2, column w % 2 */
                    vstore(at + ((size_t)(w / 2) * xw + w % 2) * VL, vwhere_code(code, w, v));
            }
}

void EG_KERNEL(lanes_zero_borders)(float *x, int c, int xh, int xw, int pad)
{
    vf zero = vbroadcast(0.0f);
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < xh; y++) {
            float *row = x + ((size_t)ch * xh + y) * xw * VL;
            int edge = y < pad || y >= xh - pad;
            for (int x0 = 0; x0 < xw; x0++) {
                if (!edge && x0 == pad) x0 = xw - pad;  /* over the interior */
                if (x0 < xw) vstore(row + (size_t)x0 * VL, zero);
            }
        }
}
