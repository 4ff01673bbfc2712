/* The vector unit's peak: independent chains of multiply-adds with nothing
 * to load, what `edagari bench` measures each product's GFLOP/s against. */
#include "kernels/kernels.h"
#include "kernels/vec.h"

/* Enough chains to hide the FMA latency (4 cycles, 2 a cycle) in the
 * registers there are. */
#define CHAINS (EG_VREGS >= 32 ? 12 : 10)

/* CHAINS chains of acc = acc * a + b, iters times; GNU C contracts the
 * multiply-add into one FMA where the ISA has it, and the values settle
 * near b / (1 - a), far from overflow and denormals. The sum goes to *out,
 * so the loop has a side effect and stays between the caller's clock reads. */
double EG_KERNEL(fma_peak)(long iters, float seed, volatile float *out)
{
    const vf a = vbroadcast(0.999f), b = vbroadcast(1e-3f * seed);
    vf acc[CHAINS];
    for (int i = 0; i < CHAINS; i++) acc[i] = a * (float)(i + 1);
    for (long n = 0; n < iters; n++)
        for (int i = 0; i < CHAINS; i++) acc[i] = acc[i] * a + b;
    float s = 0;
    for (int i = 0; i < CHAINS; i++) s += vhsum(acc[i]);
    *out = s;
    return 2.0 * VL * CHAINS * (double)iters;
}
