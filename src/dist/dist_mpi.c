/* The MPI side of src/dist/dist.h: the only file that includes mpi.h. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "dist/dist.h"

static int joined, rank, size = 1, local_depth;
static uint64_t sent;
static double spent;  /* seconds inside collectives */

/* mpirun (Open MPI's and MPICH's) marks the processes it starts; a plain
 * start stays a single process: no MPI_Init, nothing changes. */
static int started_by_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

void eg_dist_init(int *argc, char ***argv)
{
    if (!started_by_mpirun()) return;
    /* Open MPI's ranks busy-wait inside a collective; on a machine whose
     * cores are busy with other work that made two ranks 10 times slower
     * than one process (bench/mpi_scaling.sh: 2,030 against 21,431 images/s);
     * yielding while they wait brought them to 21,432. Open MPI reads its
     * settings in MPI_Init; a user's own setting is left alone. */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "edagari: error: MPI_Init failed\n");
        exit(1);
    }
    joined = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank != 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "edagari: error: rank %d: cannot silence stdout\n", rank);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

void eg_dist_finish(int rc)
{
    if (!joined) return;
    if (rc != 0 && size > 1) {
        fflush(stdout);
        fprintf(stderr, "edagari: rank %d of %d failed (exit status %d): stopping every rank\n", rank, size, rc);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    MPI_Finalize();
}

int eg_dist_rank(void) { return rank; }
int eg_dist_size(void) { return size; }

int eg_dist_local(int delta)
{
    local_depth += delta;
    return local_depth;
}

/* MPI counts in int: large buffers go in pieces. */
#define CHUNK (1 << 28)

/* x[0..n) summed over the ranks, in place; elements of `elem` bytes as t. */
static void sum_in_place(void *x, size_t n, size_t elem, MPI_Datatype t)
{
    if (size == 1) return;
    double t0 = MPI_Wtime();
    for (size_t at = 0; at < n; at += CHUNK) {
        int len = n - at < CHUNK ? (int)(n - at) : CHUNK;
        MPI_Allreduce(MPI_IN_PLACE, (char *)x + at * elem, len, t, MPI_SUM, MPI_COMM_WORLD);
    }
    sent += n * elem;
    spent += MPI_Wtime() - t0;
}

void eg_dist_sum_floats(float *x, size_t n) { sum_in_place(x, n, sizeof *x, MPI_FLOAT); }

void eg_dist_sum_doubles(double *x, size_t n) { sum_in_place(x, n, sizeof *x, MPI_DOUBLE); }

void eg_dist_bcast(void *buf, size_t bytes, int root)
{
    if (size == 1) return;
    double t0 = MPI_Wtime();
    for (size_t at = 0; at < bytes; at += CHUNK) {
        int len = bytes - at < CHUNK ? (int)(bytes - at) : CHUNK;
        MPI_Bcast((char *)buf + at, len, MPI_BYTE, root, MPI_COMM_WORLD);
    }
    if (rank == root) sent += bytes;
    spent += MPI_Wtime() - t0;
}

int eg_dist_same(uint64_t v)
{
    if (size == 1) return 1;
    uint64_t mm[2] = {v, ~v};  /* min of v and min of ~v (= ~max v) in one call */
    MPI_Allreduce(MPI_IN_PLACE, mm, 2, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    sent += sizeof mm;
    return mm[0] == v && ~mm[1] == v;
}

uint64_t eg_dist_bytes_sent(void) { return sent; }
double eg_dist_seconds(void) { return spent; }
