/* Unfolding images into columns so a convolution becomes one matrix product. */
#include <string.h>

#include "kernels/kernels.h"

/* The common "same" convolution (stride 1, output as large as the input):
 * each column row is the whole plane shifted by (ky - pad, kx - pad), so it
 * is one flat copy, then zeros where rows or columns fall outside. */
static void im2col_same(float *col, const float *x, int C, int H, int W, int k, int pad)
{
    int hw = H * W;
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *dst = col + ((size_t)(c * k + ky) * k + kx) * hw;
                const float *src = x + (size_t)c * hw;
                int dy = ky - pad, dx = kx - pad, off = dy * W + dx;
                int start = (dy < 0 ? -dy : 0) * W, end = (dy > 0 ? H - dy : H) * W;
                int lo = start > -off ? start : -off, hi = end < hw - off ? end : hw - off;
                memset(dst, 0, (size_t)(lo > 0 ? lo : 0) * sizeof *dst);
                if (hi > lo) memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof *dst);
                if (hw > hi) memset(dst + (hi > 0 ? hi : 0), 0, (size_t)(hw - (hi > 0 ? hi : 0)) * sizeof *dst);
                /* the flat copy wrapped these columns in from the next or previous row */
                for (int y = start / W; y < end / W; y++) {
                    float *row = dst + (size_t)y * W;
                    for (int o = 0; o < -dx; o++) row[o] = 0;
                    for (int o = W - dx; o < W; o++) row[o] = 0;
                }
            }
}

/* col row (c, ky, kx) holds x[c][oy*stride - pad + ky][ox*stride - pad + kx]
 * for every output position, zero where that falls in the padding. */
void EG_KERNEL(im2col)(float *col, const float *x, int C, int H, int W, int k, int stride, int pad, int OH,
               int OW)
{
    if (stride == 1 && OH == H && OW == W) {
        im2col_same(col, x, C, H, W, k, pad);
        return;
    }
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *dst = col + ((size_t)(c * k + ky) * k + kx) * OH * OW;
                const float *src = x + (size_t)c * H * W;
                /* output columns whose input column lies inside the image */
                int lo = 0, hi = OW;
                while (lo < OW && lo * stride - pad + kx < 0) lo++;
                while (hi > lo && (hi - 1) * stride - pad + kx >= W) hi--;
                for (int oy = 0; oy < OH; oy++) {
                    float *d = dst + (size_t)oy * OW;
                    int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= H) {
                        memset(d, 0, (size_t)OW * sizeof *d);
                        continue;
                    }
                    const float *row = src + (size_t)iy * W;
                    for (int ox = 0; ox < lo; ox++) d[ox] = 0;
                    if (stride == 1 && hi > lo)
                        memcpy(d + lo, row + lo - pad + kx, (size_t)(hi - lo) * sizeof *d);
                    else
                        for (int ox = lo; ox < hi; ox++) d[ox] = row[ox * stride - pad + kx];
                    for (int ox = hi; ox < OW; ox++) d[ox] = 0;
                }
            }
}

void EG_KERNEL(col2im_add)(float *dx, const float *dcol, int C, int H, int W, int k, int stride, int pad,
                   int OH, int OW)
{
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *src = dcol + ((size_t)(c * k + ky) * k + kx) * OH * OW;
                float *img = dx + (size_t)c * H * W;
                int lo = 0, hi = OW;
                while (lo < OW && lo * stride - pad + kx < 0) lo++;
                while (hi > lo && (hi - 1) * stride - pad + kx >= W) hi--;
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= H) continue;
                    float *row = img + (size_t)iy * W;
                    const float *s = src + (size_t)oy * OW;
                    if (stride == 1) {
                        float *restrict d = row + lo - pad + kx;  /* contiguous: vectorizes */
                        const float *restrict sv = s + lo;
                        for (int o = 0; o < hi - lo; o++) d[o] += sv[o];
                    } else {
                        for (int ox = lo; ox < hi; ox++) row[ox * stride - pad + kx] += s[ox];
                    }
                }
            }
}
