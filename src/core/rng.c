/* Seeded random numbers: xoshiro256** seeded through splitmix64. */
#include "edagari.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void eg_rng_seed(eg_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t eg_rng_next(eg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float eg_rng_uniform(eg_rng *r)
{
    return (float)(eg_rng_next(r) >> 40) * (1.0f / 16777216.0f);  /* 24 random bits */
}

float eg_rng_range(eg_rng *r, float lo, float hi) { return lo + (hi - lo) * eg_rng_uniform(r); }

uint32_t eg_rng_below(eg_rng *r, uint32_t n)
{
    /* Lemire's multiply-and-reject: unbiased without a division per draw. */
    uint64_t m = (uint64_t)(uint32_t)(eg_rng_next(r) >> 32) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t threshold = (uint32_t)-n % n;
        while (lo < threshold) {
            m = (uint64_t)(uint32_t)(eg_rng_next(r) >> 32) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void eg_rng_shuffle(eg_rng *r, int32_t *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)eg_rng_below(r, (uint32_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
