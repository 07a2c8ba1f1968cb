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
#  define PETSC_SUCCESS ((PetscErrorCode)0)
#endif

/* Error classes of bad user input: options, files, variables. */
#define RACI_ERR_INPUT PETSC_ERR_USER_INPUT      /* bad option or option value */
#define RACI_ERR_OPEN  PETSC_ERR_FILE_OPEN       /* file missing or unreadable */
#define RACI_ERR_READ  PETSC_ERR_FILE_READ       /* file present but unusable  */
#define RACI_ERR_WRITE PETSC_ERR_FILE_WRITE      /* output cannot be written   */
#define RACI_ERR_DATA  PETSC_ERR_FILE_UNEXPECTED /* content violates the data contract */

/* Call right after PetscInitialize: installs the error handler and remembers
 * the command line for `history` attributes. */
PetscErrorCode core_initialize(int argc, char **argv);

/* Call at the end of main with the status of the run; returns the process
 * exit code. Removes unfinished outputs, aborts the job if the error was not
 * seen by every rank, otherwise finalizes PETSc. */
int core_finish(PetscErrorCode status);
/* stdout closed by its reader (EPIPE; SIGPIPE is ignored): later prints to
 * stdout are dropped; _all: rank 0's answer on every rank (collective) */
PetscBool      core_stdout_closed(void);
PetscErrorCode core_stdout_closed_all(MPI_Comm comm, PetscBool *closed);
/* Keep this process's stdout prints in memory until the release, which
 * writes them with one write (a report read through a pipe, raci info F |
 * head, also under mpirun, whose ranks see a pseudo-terminal as stdout).
 * core_finish releases what is still held. */
void core_stdout_hold(void);
void core_stdout_release(void);

/* Every rank passes its local verdict; on return *all_ok is true only if it
 * was true on every rank of comm. Use before branching on a local failure. */
PetscErrorCode core_agree(MPI_Comm comm, PetscBool local_ok, PetscBool *all_ok);

/* Rank 0 decides, every rank learns the verdict: rank 0 passes code (0: all
 * is well, else the error class, RACI_ERR_*) and the message; when code is
 * non-zero every rank of comm fails with rank 0's code and message (one
 * line), formatted on rank 0 only. core_rank0_errno is the same for rank 0's
 * errno err (0: fine): the message is fmt followed by ": strerror(err)".
 * The other ranks' code, err and arguments are not read. Collective. */
PetscErrorCode core_rank0_check(MPI_Comm comm, PetscErrorCode code, const char *fmt, ...) PETSC_ATTRIBUTE_FORMAT(3, 4);
PetscErrorCode core_rank0_errno(MPI_Comm comm, PetscErrorCode code, long err, const char *fmt, ...)
    PETSC_ATTRIBUTE_FORMAT(4, 5);

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
 * released when renamed into place. core_finish() deletes the ones left, and
 * so does SIGTERM, SIGINT, SIGHUP or SIGUSR1 (installed by core_initialize:
 * the process then dies of the signal, a non-zero exit; train replaces the
 * SIGTERM and SIGUSR1 handlers with core_signal_install). */
PetscErrorCode core_pending_add(const char *path);
PetscErrorCode core_pending_remove(const char *path);

/* Outputs. Every output is written to "<path>.<pid>.tmp" (the pid of rank 0;
 * core_tmp_path) and renamed into place when complete.
 *
 * core_check_paths: call right after a command has read its options, before
 * any work. inputs and outputs are NULL-terminated lists of option name and
 * path pairs, {"-data", data, "-ckpt", ckpt, NULL}; an empty path is skipped
 * and -run_record is added to the outputs. Fails with one line naming both
 * options when an output is the same file as an input (device and inode, so
 * symbolic and hard links count) or as another output, or when an output
 * cannot be created (its directory missing or read-only, a directory in its
 * place). Removes stale temporaries of each output, "<path>.<pid>.tmp" whose
 * process no longer runs on this node (kill(pid, 0) fails with ESRCH).
 * Rank 0 checks; every rank fails. Collective. */
PetscErrorCode core_check_paths(MPI_Comm comm, const char *const inputs[], const char *const outputs[]);
void           core_tmp_path(char *buf, size_t len, const char *path, long pid); /* local */
int            core_probe_writable(const char *path); /* local: 0 or the errno that stops creating path */
/* A text output (JSON) written by one process: core_text_open gives a stream
 * in memory and the temporary's name (into tmp); core_text_commit writes it
 * to the temporary, checks every status (write, fsync, close) and renames it
 * into place, or removes it, leaves the old file as it was and returns the
 * errno. Local. */
FILE *core_text_open(const char *path, char *tmp, size_t len);
int   core_text_commit(FILE *fp, const char *tmp, const char *path);
/* Before PetscInitialize: Open MPI's file I/O through ROMIO unless the user
 * chose (OMPI_MCA_io), and no lockedfile shared-file-pointer component
 * unless the user chose (OMPI_MCA_sharedfp); see docs/ARCHITECTURE.md. */
void core_mpi_io_defaults(void);

/* Command-line options (src/core/options.c). Every command reads its
 * options with these, never with PetscOptionsInt and friends: a value that
 * is missing ("-train_batch" then another option or nothing), malformed
 * ("3.5" or "abc" for an integer, "nan" for a number), out of its range or
 * a wrong count of array values fails with one RACI_ERR_INPUT line naming
 * the option. *val is set to the default first; *set (may be NULL) tells
 * whether the option was given. With -help (core_help()), they print one
 * line per option (name, default, meaning, range) and read nothing; every
 * command returns right after reading its options, before any work. */
void           core_help_set(PetscBool on);
PetscBool      core_help(void);
PetscErrorCode core_opt_section(MPI_Comm comm, const char *title); /* a heading in -help */
PetscErrorCode core_opt_int(MPI_Comm comm, const char *name, const char *help, PetscInt def, PetscInt min, PetscInt max,
                            PetscInt *val, PetscBool *set);
#define CORE_OPT_CLOSED   0
#define CORE_OPT_OPEN_MIN 1 /* min itself excluded */
#define CORE_OPT_OPEN_MAX 2 /* max itself excluded */
/* finite, in [min, max] (open ends per `open`); max PETSC_MAX_REAL: no upper bound */
PetscErrorCode core_opt_real(MPI_Comm comm, const char *name, const char *help, PetscReal def, PetscReal min,
                             PetscReal max, int open, PetscReal *val, PetscBool *set);
PetscErrorCode core_opt_bool(MPI_Comm comm, const char *name, const char *help, PetscBool def, PetscBool *val,
                             PetscBool *set);
/* -quiet (default false), the same option in every command that prints progress or a summary */
PetscErrorCode core_opt_quiet(MPI_Comm comm, PetscBool *quiet);
/* default: the incoming contents of val; a value of len characters or more is refused */
PetscErrorCode core_opt_string(MPI_Comm comm, const char *name, const char *help, char *val, size_t len,
                               PetscBool *set);
/* comma-separated names; *n in: the most accepted, out: the count; list[i]
 * are PetscMalloc'ed (the caller frees them); empty names are refused */
PetscErrorCode core_opt_strings(MPI_Comm comm, const char *name, const char *help, char **list, PetscInt *n,
                                PetscBool *set);
/* nmin .. nmax comma-separated finite numbers; *n in: the count of defaults
 * in val (shown by -help), out: the count read when given */
PetscErrorCode core_opt_reals(MPI_Comm comm, const char *name, const char *help, PetscReal *val, PetscInt nmin,
                              PetscInt nmax, PetscInt *n, PetscBool *set);
/* Is this error PETSc's complaint about a malformed option value (options
 * PETSc reads itself)? The error handler prints it as one line. */
PetscBool      core_opt_petsc_error(PetscErrorCode n, const char *mess);
PetscErrorCode core_opt_petsc_grid_help(MPI_Comm comm); /* -da_processors_x/y in -help */
/* Fails with RACI_ERR_INPUT "<what> would need about N GB of memory per
 * rank, more than ..." when the largest of the ranks' estimates exceeds the
 * node's physical memory divided by the ranks on the node. Collective. */
PetscErrorCode core_check_memory(MPI_Comm comm, double bytes, const char *what);

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

/* The random-number streams: the last counter word (c) of every core_rng_*
 * call, one per use so no two uses share numbers. The values are part of
 * every output (simulated data, folds, initial weights, training steps):
 * never change one, and give a new use a new value. A stream marked "+ k"
 * is offset by a small index k (the variable or query slot). The weather
 * generator's lattice fields (sim_smooth_noise: elevation, rainfall, ...)
 * are sub-streams of CORE_RNG_WEATHER numbered in src/sim/weather.c and
 * SIM_STREAM_* of sim.h. */
typedef enum {
  CORE_RNG_SIM_TOWERS = 0x70e4, /* simulate: which land cells get a tower (a: cell) */
  CORE_RNG_SIM_NOISE  = 0x401e, /* + variable: simulate's observation noise (a: cell, b: day) */
  CORE_RNG_SIM_LOCAL  = 0x10ca, /* + 0 (temperature) or 1 (wetness): -sim_local's point anomalies (a: cell, b: day) */
  CORE_RNG_WEATHER    = 0x5eed, /* weather lattice node values (a: node, b: sub-stream and day) */
  CORE_RNG_PRECIP     = 0x8,    /* weather: the amount of rain on a wet day (a: cell, b: day) */
  CORE_RNG_FOLD       = 0xf01d, /* stratified folds: tie-break order of sites (a: site) */
  CORE_RNG_VALIDATION = 0x5917, /* validation split of training locations (a: location) */
  CORE_RNG_INIT       = 0x1a1f, /* initial network weights (a: tensor, b: element) */
  CORE_RNG_BANK_KEEP  = 0xba6e, /* train: which locations the memory bank keeps (a: location) */
  CORE_RNG_EPOCH_DAY  = 0xba4c, /* the first of a location's bank segments in an epoch (a: location, b: epoch) */
  CORE_RNG_PATCH_RATE = 0x9a7c, /* + patch slot: whether a patch gets another query (a: patch, b: step key) */
  CORE_RNG_PATCH_DAY  = 0xda7,  /* + patch slot: that segment's scored day (a: patch, b: step key) */
  CORE_RNG_INPUT_DROP = 0xd409, /* + input: -train_input_dropout (a: location key, b: step key and first day) */
  CORE_RNG_SEGMENT_OFFSET =
      0x5e90000, /* + patch slot: where that day sits in the segment's scored part (a: patch, b: step key) */
} CoreRngStream;

/* Log stages, so -log_view shows where time goes. */
typedef enum {
  CORE_STAGE_LOAD,
  CORE_STAGE_SIMULATE,
  CORE_STAGE_RETRIEVAL,
  CORE_STAGE_FORWARD,
  CORE_STAGE_BACKWARD,
  CORE_STAGE_REDUCE,
  CORE_STAGE_OPTIMIZER,
  CORE_STAGE_EVAL,
  CORE_STAGE_WRITE,
  CORE_NUM_STAGES
} CoreStage;
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
