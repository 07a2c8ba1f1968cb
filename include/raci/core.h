/* core: version, error reporting, run-wide bookkeeping shared by every module.
 *
 * Errors follow PETSc conventions (PetscCall, PetscCheck with a communicator).
 * Problems with user input are raised with one of the RACI_ERR_* codes below;
 * raci's error handler prints those as a single line
 *     raci: error: <message>
 * on rank 0 of the communicator that raised them, and keeps PETSc's full
 * traceback for everything else (bugs, out of memory).
 *
 * An error raised on a communicator smaller than PETSC_COMM_WORLD cannot be
 * seen by the other ranks, so core_finish() aborts the job in that case
 * instead of letting them wait in a collective forever. */
#ifndef RACI_CORE_H
#define RACI_CORE_H

#include <petscsys.h>
#include <math.h>
#include <stdint.h>

#define RACI_VERSION "0.1.0"

/* PETSc 3.18 (Debian 12) predates PETSC_SUCCESS. */
#ifndef PETSC_SUCCESS
  #define PETSC_SUCCESS ((PetscErrorCode)0)
#endif

/* Error classes of bad user input: options, files, variables. */
#define RACI_ERR_INPUT PETSC_ERR_USER_INPUT   /* bad option or option value */
#define RACI_ERR_OPEN  PETSC_ERR_FILE_OPEN    /* file missing or unreadable */
#define RACI_ERR_READ  PETSC_ERR_FILE_READ    /* file present but unusable  */
#define RACI_ERR_WRITE PETSC_ERR_FILE_WRITE   /* output cannot be written   */
#define RACI_ERR_DATA  PETSC_ERR_FILE_UNEXPECTED /* content violates the data contract */

/* Call right after PetscInitialize: installs the error handler and remembers
 * the command line for `history` attributes. */
PetscErrorCode core_initialize(int argc, char **argv);

/* Call at the end of main with the status of the run; returns the process
 * exit code. Removes unfinished outputs, aborts the job if the error was not
 * seen by every rank, otherwise finalizes PETSc. */
int core_finish(PetscErrorCode status);

/* Every rank passes its local verdict; on return *all_ok is true only if it
 * was true on every rank of comm. Use before branching on a local failure. */
PetscErrorCode core_agree(MPI_Comm comm, PetscBool local_ok, PetscBool *all_ok);

/* Fails with RACI_ERR_INPUT naming the first option given on the command line
 * (or in an options file) that no part of raci has read. Call once all of a
 * command's options have been queried. */
PetscErrorCode core_check_unused_options(MPI_Comm comm);

/* "YYYY-MM-DDTHH:MM:SSZ raci VERSION: <command line>". The time comes from
 * SOURCE_DATE_EPOCH when set (reproducible outputs), else from the clock. */
PetscErrorCode core_history_line(char *buf, size_t len);

/* SIGTERM and SIGUSR1 (Slurm's preemption and time-limit warnings) set a
 * flag instead of killing the process; long loops poll it at safe points,
 * save their state and exit 0. */
PetscErrorCode core_signal_install(void);
int            core_signal_received(void); /* local: the signal number, or 0 */

/* Unfinished output files: registered when created under a temporary name,
 * released when renamed into place. core_finish() deletes the ones left. */
PetscErrorCode core_pending_add(const char *path);
PetscErrorCode core_pending_remove(const char *path);

/* Counter-based random numbers: a pure function of (seed, a, b, c), so a
 * value depends on what it is for (for example global cell, day, stream) and
 * never on how many ranks drew numbers before. SplitMix64 finaliser chained
 * over the counter words (Steele, Lea and Flood 2014). */
static inline uint64_t core_mix64(uint64_t z)
{
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static inline uint64_t core_rng_bits(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
  return core_mix64(core_mix64(core_mix64(core_mix64(seed) ^ a) ^ b) ^ c);
}
/* Uniform in the open interval (0, 1). */
static inline double core_rng_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
  return ((double)(core_rng_bits(seed, a, b, c) >> 11) + 0.5) * 0x1.0p-53;
}
/* Standard normal (Box-Muller on two uniforms keyed by the same counter). */
static inline double core_rng_normal(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
  double u1 = core_rng_uniform(seed, a, b, c), u2 = core_rng_uniform(seed, a, b, c ^ 0x8000000000000000ULL);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Log stages, so -log_view shows where time goes. */
typedef enum { CORE_STAGE_LOAD, CORE_STAGE_SIMULATE, CORE_STAGE_RETRIEVAL, CORE_STAGE_FORWARD, CORE_STAGE_BACKWARD, CORE_STAGE_REDUCE, CORE_STAGE_OPTIMIZER, CORE_STAGE_EVAL, CORE_STAGE_WRITE, CORE_NUM_STAGES } CoreStage;
PetscErrorCode core_stage_push(CoreStage s);
PetscErrorCode core_stage_pop(void);

/* Run record (-run_record FILE, any command): a JSON file written by rank 0
 * at the end of a successful run, for job scripts and scaling studies
 * (docs/SCALING.md): version, command line, rank count, Slurm job ids, wall
 * time, the wall time of each stage (the innermost stage pushed owns the
 * time; max and mean over ranks), bytes read and written with PnetCDF and
 * the write rate, and the entries the commands add below (process grid, tile
 * sizes, throughput). Entries are local values; the commands add them on
 * every rank with the same key (rank 0's value is written). */
PetscErrorCode core_record_int(const char *key, long long v);
PetscErrorCode core_record_real(const char *key, double v);
PetscErrorCode core_record_text(const char *key, const char *v);
void           core_record_io(double bytes_read, double bytes_written); /* local, added up */
PetscErrorCode core_record_write(MPI_Comm comm);

#endif
