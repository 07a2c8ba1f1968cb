/* app: the raci subcommands. Each takes the command line after PETSc has
 * parsed it; `file` is the positional argument after the command, if any. */
#ifndef RACI_APP_H
#define RACI_APP_H

#include <raci/core.h>

PetscErrorCode app_info(MPI_Comm comm, const char *file);
PetscErrorCode app_convert(MPI_Comm comm);
PetscErrorCode app_simulate(MPI_Comm comm);
PetscErrorCode app_train(MPI_Comm comm);
PetscErrorCode app_predict(MPI_Comm comm);
PetscErrorCode app_eval(MPI_Comm comm);
PetscErrorCode app_prep(MPI_Comm comm);
PetscErrorCode app_prep_grid(MPI_Comm comm); /* raci prep -format grid (src/app/prep_grid.c) */

#endif
