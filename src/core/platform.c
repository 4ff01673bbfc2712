/* Threads, clocks and the floating-point mode, so the rest builds the same
 * with or without OpenMP and on any processor. */
#define _GNU_SOURCE  /* sched_getaffinity */
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef __SSE__
#include <xmmintrin.h>
#endif

#include "internal.h"

int eg_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

int eg_thread_count(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int eg_team_size(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

int eg_core_count(void)
{
    cpu_set_t set;
    if (!sched_getaffinity(0, sizeof set, &set) && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

void eg_set_threads(int n)
{
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

unsigned eg_denormals_flush(void)
{
#ifdef __SSE__
    unsigned mode = _mm_getcsr();
    _mm_setcsr(mode | 0x8040);  /* flush-to-zero and denormals-are-zero */
    return mode;
#elif defined(__aarch64__)
    uint64_t mode;  /* FPCR's upper 32 bits are reserved, zero */
    __asm__ volatile("mrs %0, fpcr" : "=r"(mode));
    /* FZ (bit 24) flushes denormal inputs and results alike: x86's FTZ and DAZ */
    __asm__ volatile("msr fpcr, %0" : : "r"(mode | (1u << 24)));
    return (unsigned)mode;
#else
    return 0;
#endif
}

void eg_denormals_restore(unsigned mode)
{
#ifdef __SSE__
    _mm_setcsr(mode);
#elif defined(__aarch64__)
    __asm__ volatile("msr fpcr, %0" : : "r"((uint64_t)mode));
#else
    (void)mode;
#endif
}

double eg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
