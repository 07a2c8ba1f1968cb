/* Decomposition and halo: every rank's tile plus halo, as data_read fills it,
 * must equal the same cells read from the whole variable on that rank alone;
 * owned tiles must cover the domain exactly once; the halo must be exactly
 * -grid_halo cells wide, clipped at the domain edge; site blocks must be
 * contiguous and in rank order.
 *
 * usage: test_tile -data FILE [-fast ...] [-slow ...] [-grid_halo W]   (any rank count) */
#include <raci/data.h>

#include <math.h>

static int nfail = 0;

#define EXPECT(cond, ...)                                                                                              \
  do {                                                                                                                 \
    if (!(cond)) {                                                                                                     \
      nfail++;                                                                                                         \
      if (nfail < 10) {                                                                                                \
        PetscMPIInt r_;                                                                                                \
        MPI_Comm_rank(PETSC_COMM_WORLD, &r_);                                                                          \
        printf("[%d] FAIL %s:%d: ", r_, __FILE__, __LINE__);                                                           \
        printf(__VA_ARGS__);                                                                                           \
        printf("\n");                                                                                                  \
      }                                                                                                                \
    }                                                                                                                  \
  } while (0)

static PetscErrorCode check_partition(const Dataset *ds)
{
  const Tile *t = &ds->tile;
  PetscInt    n = t->nx * t->ny;
  int        *cover;

  PetscFunctionBeginUser;
  PetscCall(PetscCalloc1(n, &cover));
  for (PetscInt y = t->ys; y < t->ys + t->ym; y++)
    for (PetscInt x = t->xs; x < t->xs + t->xm; x++) cover[y * t->nx + x]++;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, cover, (int)n, MPI_INT, MPI_SUM, PETSC_COMM_WORLD));
  for (PetscInt i = 0; i < n; i++) EXPECT(cover[i] == 1, "location %" PetscInt_FMT " owned %d times", i, cover[i]);
  PetscCall(PetscFree(cover));

  if (ds->layout == LAYOUT_GRID) {
    PetscInt w = t->halo;
    EXPECT(t->gxs == PetscMax(0, t->xs - w), "halo x start %" PetscInt_FMT " for tile start %" PetscInt_FMT, t->gxs,
           t->xs);
    EXPECT(t->gys == PetscMax(0, t->ys - w), "halo y start %" PetscInt_FMT " for tile start %" PetscInt_FMT, t->gys,
           t->ys);
    EXPECT(t->gxs + t->gxm == PetscMin(t->nx, t->xs + t->xm + w), "halo x end");
    EXPECT(t->gys + t->gym == PetscMin(t->ny, t->ys + t->ym + w), "halo y end");
  } else {
    PetscInt    before = 0;
    PetscMPIInt rank;
    PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
    PetscCallMPI(MPI_Exscan(&t->xm, &before, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD));
    if (rank == 0) before = 0;
    EXPECT(t->xs == before, "site block starts at %" PetscInt_FMT ", expected %" PetscInt_FMT, t->xs, before);
    EXPECT(t->gxm == t->xm && t->gxs == t->xs, "site blocks have no halo");
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Read each role variable whole on this rank alone and compare the tile plus halo. */
static PetscErrorCode check_values(const Dataset *ds, const char *path)
{
  const Tile *t = &ds->tile;
  IoFile     *f;
  PetscInt    checked = 0;

  PetscFunctionBeginUser;
  PetscCall(io_open(PETSC_COMM_SELF, path, &f));
  for (int k = 0; k < ds->nvar; k++) {
    const DataVar *dv       = &ds->var[k];
    const IoVar   *var      = &f->vars[dv->varid];
    PetscInt       nt       = dv->role == ROLE_SLOW ? 1 : ds->ntr;
    MPI_Offset     start[3] = {0, 0, 0}, count[3];
    float         *all;
    int            d = 0;

    if (dv->role != ROLE_SLOW) count[d++] = ds->nt;
    if (ds->layout == LAYOUT_GRID) count[d++] = t->ny;
    count[d] = t->nx;
    EXPECT(var->ndims == d + 1, "variable %s has %d dims", dv->name, var->ndims);
    PetscCall(PetscMalloc1((dv->role == ROLE_SLOW ? 1 : ds->nt) * t->nx * t->ny, &all));
    PetscCall(io_read_float(f, dv->varid, start, count, all));
    for (PetscInt s = 0; s < nt; s++)
      for (PetscInt y = t->gys; y < t->gys + t->gym; y++)
        for (PetscInt x = t->gxs; x < t->gxs + t->gxm; x++) {
          float a = dv->val[s * grid_ghost_count(t) + data_ghost_index(t, x, y)];
          float b = all[((dv->role == ROLE_SLOW ? 0 : ds->t0 + s) * t->ny + y) * t->nx + x];
          EXPECT((isnan(a) && isnan(b)) || a == b,
                 "%s(t=%" PetscInt_FMT ", y=%" PetscInt_FMT ", x=%" PetscInt_FMT ") = %g, whole-variable read gives %g",
                 dv->name, s, y, x, (double)a, (double)b);
          checked++;
        }
    PetscCall(PetscFree(all));
  }
  PetscCall(io_close(&f));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &checked, 1, MPIU_INT, MPI_SUM, PETSC_COMM_WORLD));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "test_tile: %s: %" PetscInt_FMT " values of tile plus halo compared\n", path,
                        checked));
  EXPECT(checked > 0, "nothing compared");
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode run(void)
{
  char        path[PETSC_MAX_PATH_LEN];
  PetscBool   set;
  PetscInt    halo = 1, t0 = 0, nt = -1;
  RoleOptions ro;
  Dataset    *ds;

  PetscFunctionBeginUser;
  PetscCall(PetscOptionsGetString(NULL, NULL, "-data", path, sizeof path, &set));
  PetscCheck(set, PETSC_COMM_WORLD, RACI_ERR_INPUT, "test_tile needs -data FILE");
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-grid_halo", &halo, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-t0", &t0, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-nt", &nt, NULL));
  PetscCall(data_role_options(PETSC_COMM_WORLD, &ro));
  PetscCall(data_open(PETSC_COMM_WORLD, path, &ro, halo, &ds));
  if (nt < 0) nt = ds->nt - t0;
  PetscCall(data_read(ds, t0, nt));
  PetscCall(check_partition(ds));
  PetscCall(check_values(ds, path));
  PetscCall(data_close(&ds));
  PetscFunctionReturn(PETSC_SUCCESS);
}

int main(int argc, char **argv)
{
  PetscErrorCode ierr;
  int            fails;

  ierr = PetscInitialize(&argc, &argv, NULL, NULL);
  if (ierr) return 1;
  ierr = core_initialize(argc, argv);
  if (!ierr) ierr = run();
  fails = nfail + (ierr ? 1 : 0);
  MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, PETSC_COMM_WORLD);
  if (!ierr) PetscPrintf(PETSC_COMM_WORLD, "test_tile: %s\n", fails ? "FAILED" : "ok");
  core_finish(ierr);
  return fails ? 1 : 0;
}
