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

/* Unfinished output files: registered when created under a temporary name,
 * released when renamed into place. core_finish() deletes the ones left. */
PetscErrorCode core_pending_add(const char *path);
PetscErrorCode core_pending_remove(const char *path);

/* Log stages, so -log_view shows where time goes. */
typedef enum { CORE_STAGE_LOAD, CORE_STAGE_WRITE, CORE_NUM_STAGES } CoreStage;
PetscErrorCode core_stage_push(CoreStage s);
PetscErrorCode core_stage_pop(void);

#endif
