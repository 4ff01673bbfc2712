/* For harnesses of readers that take a path: the input as a file, in
 * memory (a memfd, a regular file to fstat), at /proc/self/fd/N. One file
 * per slot, rewritten for every input. */
#ifndef EG_FUZZ_FILE_H
#define EG_FUZZ_FILE_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* The path of a file holding data[0..n) (slot 0 or 1). */
static const char *fuzz_file(int slot, const uint8_t *data, size_t n)
{
    static int fd[2] = {-1, -1};
    static char path[2][32];
    if (fd[slot] < 0) {
        fd[slot] = memfd_create("fuzz", 0);
        if (fd[slot] < 0) abort();
        snprintf(path[slot], sizeof path[slot], "/proc/self/fd/%d", fd[slot]);
    }
    if (ftruncate(fd[slot], 0) || (n && pwrite(fd[slot], data, n, 0) != (ssize_t)n)) abort();
    return path[slot];
}

#endif
