/* grid: DMDA tiles with a halo for grids, contiguous blocks for sites. */
#include <raci/grid.h>

/* The decomposition in the run record: process grid, domain, and the
 * locations per rank (owned and owned plus halo), min and max. */
static PetscErrorCode record_tile(MPI_Comm comm, const Tile *t)
{
  PetscInt loc[4] = {-grid_owned_count(t), grid_owned_count(t), -grid_ghost_count(t), grid_ghost_count(t)};
  char     buf[64];

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, loc, 4, MPIU_INT, MPI_MAX, comm));
  snprintf(buf, sizeof buf, "%dx%d", (int)t->px, (int)t->py);
  PetscCall(core_record_text("process_grid", buf));
  snprintf(buf, sizeof buf, "%dx%d", (int)t->nx, (int)t->ny);
  PetscCall(core_record_text("domain", buf));
  PetscCall(core_record_int("tile_locations_min", (long long)-loc[0]));
  PetscCall(core_record_int("tile_locations_max", (long long)loc[1]));
  PetscCall(core_record_int("tile_with_halo_max", (long long)loc[3]));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode grid_tile_create(MPI_Comm comm, PetscInt nx, PetscInt ny, PetscInt halo, const double *row_weight,
                                Tile *t)
{
  PetscMPIInt size;
  PetscInt    px, py, *ly = NULL;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(t, sizeof *t));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCheck(halo >= 0, comm, RACI_ERR_INPUT, "-grid_halo must be >= 0, got %" PetscInt_FMT, halo);
  PetscCheck(nx * ny >= size, comm, RACI_ERR_INPUT,
             "the grid has %" PetscInt_FMT " x %" PetscInt_FMT " cells, fewer than the %d ranks; run on fewer ranks",
             nx, ny, size);
  /* Whole rows per rank when there are rows enough (8 or more each): a rank's
   * block of a (time, y, x) variable is then contiguous in every time plane,
   * which doubled the collective write rate on 2 ranks (docs/PERFORMANCE.md).
   * -da_processors_x/y override. */
  {
    PetscBool setx, sety;
    PetscCall(PetscOptionsHasName(NULL, NULL, "-da_processors_x", &setx));
    PetscCall(PetscOptionsHasName(NULL, NULL, "-da_processors_y", &sety));
    px = py = PETSC_DECIDE;
    if (!setx && !sety && (PetscInt)size * 8 <= ny) {
      px = 1;
      py = size;
    }
  }
  /* Whole rows with weights: contiguous row ranges of about equal weight
   * (e.g. land cells, so that ranks get equal work), each at least
   * max(halo, 1) rows as the DMDA needs. */
  if (row_weight && px == 1 && size > 1) {
    double   total = 0, acc = 0;
    PetscInt minr = PetscMax(halo, 1), r = 0;
    for (PetscInt j = 0; j < ny; j++) total += row_weight[j];
    PetscCall(PetscMalloc1(size, &ly));
    for (PetscMPIInt p = 0; p < size; p++) {
      PetscInt start = r, left = (PetscInt)(size - p - 1) * minr; /* rows the later ranks need */
      double   goal = total * (double)(p + 1) / size;
      while (r < ny - left && (r - start < minr || (p == size - 1) || acc + 0.5 * row_weight[r] < goal))
        acc += row_weight[r++];
      ly[p] = r - start;
    }
  }
  PetscCall(DMDACreate2d(comm, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_BOX, nx, ny, px, py, 1, halo, NULL, ly,
                         &t->da));
  PetscCall(PetscFree(ly));
  PetscCall(DMSetFromOptions(t->da));
  PetscCall(DMSetUp(t->da));
  PetscCall(DMDAGetCorners(t->da, &t->xs, &t->ys, NULL, &t->xm, &t->ym, NULL));
  PetscCall(DMDAGetGhostCorners(t->da, &t->gxs, &t->gys, NULL, &t->gxm, &t->gym, NULL));
  PetscCall(DMDAGetInfo(t->da, NULL, NULL, NULL, NULL, &px, &py, NULL, NULL, NULL, NULL, NULL, NULL, NULL));
  t->nx   = nx;
  t->ny   = ny;
  t->halo = halo;
  t->px   = (PetscMPIInt)px;
  t->py   = (PetscMPIInt)py;
  PetscCall(record_tile(comm, t));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode grid_sites_create(MPI_Comm comm, PetscInt nsites, Tile *t)
{
  PetscMPIInt size;
  PetscInt    n = PETSC_DECIDE, start = 0;

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(t, sizeof *t));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(PetscSplitOwnership(comm, &n, &nsites));
  PetscCallMPI(MPI_Exscan(&n, &start, 1, MPIU_INT, MPI_SUM, comm));
  {
    PetscMPIInt rank;
    PetscCallMPI(MPI_Comm_rank(comm, &rank));
    if (rank == 0) start = 0; /* MPI_Exscan leaves rank 0's result undefined */
  }
  t->nx = nsites;
  t->ny = 1;
  /* every rank holds every site (the halo is all of them): geographic
   * neighbours within -retrieval_radius may be owned by another rank */
  t->xs  = start;
  t->xm  = n;
  t->gxs = 0;
  t->gxm = nsites;
  t->ys = t->gys = 0;
  t->ym = t->gym = 1;
  t->px          = size;
  t->py          = 1;
  PetscCall(record_tile(comm, t));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode grid_tile_destroy(Tile *t)
{
  PetscFunctionBeginUser;
  PetscCall(DMDestroy(&t->da));
  PetscFunctionReturn(PETSC_SUCCESS);
}
