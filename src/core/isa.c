/* Which kernel variant runs (src/kernels/kernels.h): the best one this CPU
 * supports, chosen before main, or the one the EG_ISA environment variable
 * names, so that one binary is fast on any machine and one machine can
 * measure and test every path it can run. */
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

#include "internal.h"

#ifdef EG_VARIANT_AVX512
extern const eg_kernel_table eg_table_avx512;
#endif
#ifdef EG_VARIANT_AVX2
extern const eg_kernel_table eg_table_avx2;
#endif
#ifdef EG_VARIANT_NEON
extern const eg_kernel_table eg_table_neon;
#endif
extern const eg_kernel_table eg_table_generic;

#if defined(EG_VARIANT_AVX512) || defined(EG_VARIANT_AVX2)
/* __builtin_cpu_supports also checks that the OS saves the vector state
 * (XGETBV), so a feature it reports can be used. */
static int x86_has(int avx512)
{
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!avx512) return avx2;
    return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#endif
#ifdef EG_VARIANT_AVX512
static int runs_avx512(void) { return x86_has(1); }
#endif
#ifdef EG_VARIANT_AVX2
static int runs_avx2(void) { return x86_has(0); }
#endif
#ifdef EG_VARIANT_NEON
static int runs_neon(void)
{
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#else
    return 1;  /* Advanced SIMD is part of every aarch64 profile edagari targets */
#endif
}
#endif
static int runs_generic(void) { return 1; }

/* Best first. */
static const struct {
    const eg_kernel_table *table;
    int (*runs)(void);
} variants[] = {
#ifdef EG_VARIANT_AVX512
    {&eg_table_avx512, runs_avx512},
#endif
#ifdef EG_VARIANT_AVX2
    {&eg_table_avx2, runs_avx2},
#endif
#ifdef EG_VARIANT_NEON
    {&eg_table_neon, runs_neon},
#endif
    {&eg_table_generic, runs_generic},
};
enum { NVARIANTS = sizeof variants / sizeof variants[0] };

const eg_kernel_table *eg_k = &eg_table_generic;
static const eg_kernel_table *best = &eg_table_generic;
static eg_error env_error;  /* code EG_OK unless EG_ISA was refused */

const char *eg_isa_name(void) { return eg_k->name; }
int eg_isa_vector_floats(void) { return eg_k->vl; }
const char *eg_isa_best(void) { return best->name; }

const char *eg_isa_available(void)
{
    static char list[64];
    if (!list[0])
        for (int i = 0; i < NVARIANTS; i++)
            if (variants[i].runs()) {
                if (list[0]) strcat(list, " ");
                strcat(list, variants[i].table->name);
            }
    return list;
}

/* Every variant this build has, whether the CPU runs it or not. */
static void built(char *buf, size_t len)
{
    buf[0] = 0;
    for (int i = 0; i < NVARIANTS; i++) {
        if (i) strncat(buf, ", ", len - strlen(buf) - 1);
        strncat(buf, variants[i].table->name, len - strlen(buf) - 1);
    }
}

eg_status eg_isa_select(const char *name, eg_error *err)
{
    char names[64];
    for (int i = 0; i < NVARIANTS; i++) {
        if (strcmp(name, variants[i].table->name)) continue;
        if (!variants[i].runs())
            return eg_fail(err, EG_ERR_ARG, "kernels '%s' need CPU features this machine lacks; it runs: %s", name,
                           eg_isa_available());
        eg_k = variants[i].table;
        return EG_OK;
    }
    built(names, sizeof names);
    return eg_fail(err, EG_ERR_ARG, "no kernels named '%s'; this build has: %s", name, names);
}

eg_status eg_isa_check_env(eg_error *err)
{
    if (env_error.code == EG_OK) return EG_OK;
    if (err) *err = env_error;
    return env_error.code;
}

const eg_kernel_table *eg_isa_table(const char *name)
{
    for (int i = 0; i < NVARIANTS; i++)
        if (!strcmp(name, variants[i].table->name) && variants[i].runs()) return variants[i].table;
    return NULL;
}

__attribute__((constructor)) static void pick(void)
{
    for (int i = 0; i < NVARIANTS; i++)
        if (variants[i].runs()) {
            best = variants[i].table;
            break;
        }
    eg_k = best;
    const char *want = getenv("EG_ISA");
    eg_error why;
    if (want && *want && eg_isa_select(want, &why))
        eg_fail(&env_error, why.code, "EG_ISA=%.32s: %.900s", want, why.msg);
}
