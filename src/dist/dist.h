/* Data-parallel runs over MPI: the few collective operations edagari needs.
 * Built with MPI (src/dist/dist_mpi.c) they work across the ranks mpirun
 * started; built without it (src/dist/dist_single.c), or started without
 * mpirun, there is one rank and each is the trivial single-process version.
 * Only the thread that started the process calls these (MPI_THREAD_FUNNELED). */
#ifndef EG_DIST_H
#define EG_DIST_H

#include <stddef.h>
#include <stdint.h>

/* Joins the job when the process was started by mpirun (its environment
 * says so); a plain start stays a single process and never touches MPI.
 * Ranks other than 0 get stdout sent to /dev/null: only rank 0 prints. */
void eg_dist_init(int *argc, char ***argv);
/* Leaves the job at exit with status rc: 0 finalizes; any other status on
 * any rank of a job of more than one aborts the whole job (MPI_Abort), so a
 * rank that failed never leaves the others waiting in a collective. */
void eg_dist_finish(int rc);

int eg_dist_rank(void);
int eg_dist_size(void);
/* 1 when this rank writes files and prints (rank 0). */
static inline int eg_dist_root(void) { return eg_dist_rank() == 0; }

/* While > 0, the work in progress is this rank's alone (one of the cells a
 * sensitivity analysis shares out): eg_evaluate does not split the test set
 * across ranks. eg_dist_local(+1) enters, eg_dist_local(-1) leaves; returns
 * the depth. */
int eg_dist_local(int delta);
/* 1 when collectives span more than one rank right now. */
static inline int eg_dist_active(void) { return eg_dist_size() > 1 && eg_dist_local(0) == 0; }

/* In-place sums over every rank; every rank gets the same bits. */
void eg_dist_sum_floats(float *x, size_t n);
void eg_dist_sum_doubles(double *x, size_t n);
/* bytes of buf from rank root to every rank. */
void eg_dist_bcast(void *buf, size_t bytes, int root);
/* 1 when every rank passed the same value (compared as 64-bit words). */
int eg_dist_same(uint64_t v);
/* Bytes this rank has handed to the collectives above since the start,
 * and the seconds it spent inside them (waiting for slower ranks included). */
uint64_t eg_dist_bytes_sent(void);
double eg_dist_seconds(void);

#endif
