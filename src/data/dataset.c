/* data: roles, layout checks and the tile-plus-halo read of an input file. */
#include <raci/data.h>

#include <math.h>
#include <string.h>

const char *const role_name[NUM_ROLES] = {"none", "fast", "slow", "target"};

PetscErrorCode data_role_options(MPI_Comm comm, RoleOptions *ro)
{
  static const char *help[NUM_ROLES] = {NULL, "Fast drivers x_f(i,t), comma-separated names", "Slow attributes s(i), comma-separated names", "Targets y(i,t), comma-separated names"};

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(ro, sizeof *ro));
  PetscOptionsBegin(comm, NULL, "Data roles (options replace raci_role attributes)", NULL);
  for (int r = ROLE_FAST; r < NUM_ROLES; r++) {
    char  opt[16], *list[DATA_MAX_VARS];
    PetscInt n = DATA_MAX_VARS;
    PetscCall(PetscSNPrintf(opt, sizeof opt, "-%s", role_name[r]));
    PetscCall(PetscOptionsStringArray(opt, help[r], NULL, list, &n, &ro->given[r]));
    for (PetscInt i = 0; i < n; i++) {
      PetscCheck(strlen(list[i]) <= NC_MAX_NAME, comm, RACI_ERR_INPUT, "%s: variable name too long: %s", opt, list[i]);
      PetscCall(PetscStrncpy(ro->name[r][i], list[i], sizeof ro->name[r][i]));
      PetscCall(PetscFree(list[i]));
    }
    ro->n[r] = (int)n;
  }
  PetscOptionsEnd();
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_var_role(const IoFile *f, int v, const RoleOptions *ro, Role *role)
{
  char      att[32];
  PetscBool found;

  PetscFunctionBeginUser;
  *role = ROLE_NONE;
  for (int r = ROLE_FAST; r < NUM_ROLES; r++)
    for (int i = 0; i < ro->n[r]; i++)
      if (!strcmp(ro->name[r][i], f->vars[v].name)) {
        *role = (Role)r;
        PetscFunctionReturn(PETSC_SUCCESS);
      }
  PetscCall(io_att_text(f, v, "raci_role", att, sizeof att, &found));
  if (!found) PetscFunctionReturn(PETSC_SUCCESS);
  for (int r = ROLE_FAST; r < NUM_ROLES; r++) {
    if (strcmp(att, role_name[r])) continue;
    *role = ro->given[r] ? ROLE_NONE : (Role)r; /* an option for this role replaces the attribute roles */
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCheck(!strcmp(att, "none"), f->comm, RACI_ERR_DATA, "%s: variable '%s' has raci_role \"%s\"; expected fast, slow, target or none", f->path, f->vars[v].name, att);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* "(time, lat, lon)" */
static void dims_string(const IoFile *f, int ndims, const int dimids[], char *buf, size_t len)
{
  size_t used = 0;
  used += (size_t)snprintf(buf, len, "(");
  for (int d = 0; d < ndims && used < len; d++) used += (size_t)snprintf(buf + used, len - used, "%s%s", d ? ", " : "", f->dims[dimids[d]].name);
  if (used < len) snprintf(buf + used, len - used, ")");
}

/* A dimension is a time axis if it is unlimited, is called time, or has a
 * coordinate variable with "<unit> since <date>" units. */
static PetscErrorCode is_time_dim(const IoFile *f, int dimid, PetscBool *yes)
{
  int v = io_find_var(f, f->dims[dimid].name);

  PetscFunctionBeginUser;
  *yes = (PetscBool)(dimid == f->unlimdim || !strcmp(f->dims[dimid].name, "time"));
  if (!*yes && v >= 0) {
    char      units[128];
    PetscBool found;
    PetscCall(io_att_text(f, v, "units", units, sizeof units, &found));
    *yes = (PetscBool)(found && strstr(units, " since ") != NULL);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Decide layout, spatial and time dimensions from the role variables, and
 * check every role variable against them. */
static PetscErrorCode check_layout(Dataset *ds)
{
  const IoFile *f = ds->file;
  int           ref = -1, sdims;
  const IoVar  *rv;
  char          want[256], have[256];

  PetscFunctionBeginUser;
  /* reference: the first time-varying role variable, else the first slow one */
  for (int k = 0; k < ds->nvar && ref < 0; k++)
    if (ds->var[k].role != ROLE_SLOW) ref = k;
  if (ref < 0) ref = 0;
  rv = &f->vars[ds->var[ref].varid];
  PetscCheck(rv->ndims >= 1, ds->comm, RACI_ERR_DATA, "%s: variable '%s' is a scalar; a %s variable needs spatial dimensions", f->path, rv->name, role_name[ds->var[ref].role]);
  ds->xdim   = rv->dimids[rv->ndims - 1];
  ds->layout = (!strcmp(f->dims[ds->xdim].name, "site") || !strcmp(f->dims[ds->xdim].name, "station")) ? LAYOUT_SITE : LAYOUT_GRID;
  sdims      = ds->layout == LAYOUT_SITE ? 1 : 2;
  ds->ydim   = -1;
  ds->tdim   = -1;
  if (ds->layout == LAYOUT_GRID) {
    PetscCheck(rv->ndims >= 2, ds->comm, RACI_ERR_DATA, "%s: variable '%s' has dimensions %s; gridded inputs need (time, y, x) or (y, x) and site inputs a dimension named site", f->path, rv->name, (dims_string(f, rv->ndims, rv->dimids, have, sizeof have), have));
    ds->ydim = rv->dimids[rv->ndims - 2];
  }
  if (ds->var[ref].role != ROLE_SLOW) {
    PetscBool timeish;
    PetscCheck(rv->ndims == sdims + 1, ds->comm, RACI_ERR_DATA, "%s: %s variable '%s' has dimensions %s; expected (time, %s%s%s)", f->path, role_name[ds->var[ref].role], rv->name, (dims_string(f, rv->ndims, rv->dimids, have, sizeof have), have),
               ds->layout == LAYOUT_GRID ? f->dims[ds->ydim].name : "", ds->layout == LAYOUT_GRID ? ", " : "", f->dims[ds->xdim].name);
    ds->tdim = rv->dimids[0];
    PetscCall(is_time_dim(f, ds->tdim, &timeish));
    PetscCheck(timeish, ds->comm, RACI_ERR_DATA, "%s: %s variable '%s' has dimensions %s, but '%s' is not a time axis (not unlimited, not named time, no \"<unit> since <date>\" coordinate)", f->path, role_name[ds->var[ref].role], rv->name, have, f->dims[ds->tdim].name);
  }

  for (int k = 0; k < ds->nvar; k++) {
    const IoVar *v = &f->vars[ds->var[k].varid];
    PetscBool    timevarying = (PetscBool)(ds->var[k].role != ROLE_SLOW);
    int          expect[3], ne = 0;
    PetscBool    ok;

    PetscCheck(v->type != NC_CHAR, ds->comm, RACI_ERR_DATA, "%s: %s variable '%s' holds characters, not numbers", f->path, role_name[ds->var[k].role], v->name);
    if (timevarying) {
      PetscCheck(ds->tdim >= 0, ds->comm, RACI_ERR_DATA, "%s: %s variable '%s' needs a time dimension", f->path, role_name[ds->var[k].role], v->name);
      expect[ne++] = ds->tdim;
    }
    if (ds->ydim >= 0) expect[ne++] = ds->ydim;
    expect[ne++] = ds->xdim;
    dims_string(f, ne, expect, want, sizeof want);
    dims_string(f, v->ndims, v->dimids, have, sizeof have);
    ok = (PetscBool)(v->ndims == ne);
    for (int d = 0; d < ne && ok; d++) ok = (PetscBool)(v->dimids[d] == expect[d]);
    if (!ok && timevarying && v->ndims == ne && v->dimids[0] != ds->tdim) {
      PetscBool timeish, rest = PETSC_TRUE;
      PetscCall(is_time_dim(f, v->dimids[0], &timeish));
      for (int d = 1; d < ne; d++) rest = (PetscBool)(rest && v->dimids[d] == expect[d]);
      PetscCheck(!(timeish && rest), ds->comm, RACI_ERR_DATA, "%s: time axis of '%s' (%s, %lld steps) does not match that of '%s' (%s, %lld steps)", f->path, v->name, f->dims[v->dimids[0]].name, (long long)f->dims[v->dimids[0]].len, rv->name,
                 f->dims[ds->tdim].name, (long long)f->dims[ds->tdim].len);
    }
    PetscCheck(ok, ds->comm, RACI_ERR_DATA, "%s: %s variable '%s' has dimensions %s; expected %s", f->path, role_name[ds->var[k].role], v->name, have, want);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode read_time(Dataset *ds)
{
  const IoFile *f = ds->file;
  MPI_Offset    start = 0, count;
  int           v;

  PetscFunctionBeginUser;
  ds->time_varid = -1;
  ds->nt         = 0;
  if (ds->tdim < 0) PetscFunctionReturn(PETSC_SUCCESS);
  ds->nt = (PetscInt)f->dims[ds->tdim].len;
  v      = io_find_var(f, f->dims[ds->tdim].name);
  if (v < 0 || f->vars[v].ndims != 1 || f->vars[v].dimids[0] != ds->tdim) PetscFunctionReturn(PETSC_SUCCESS);
  ds->time_varid = v;
  count          = ds->nt;
  PetscCall(PetscMalloc1(ds->nt > 0 ? ds->nt : 1, &ds->time));
  PetscCall(io_read_double(f, v, &start, &count, ds->time));
  for (PetscInt t = 1; t < ds->nt; t++)
    PetscCheck(ds->time[t] > ds->time[t - 1], ds->comm, RACI_ERR_DATA, "%s: time coordinate '%s' is not increasing at step %" PetscInt_FMT " (%.10g after %.10g)", f->path, f->vars[v].name, t, ds->time[t], ds->time[t - 1]);
  {
    char units[128], cal[64];
    PetscBool found;
    PetscCall(io_att_text(f, v, "units", units, sizeof units, &found));
    PetscCall(io_att_text(f, v, "calendar", cal, sizeof cal, &found));
    PetscCall(io_cftime_parse(units, cal, &ds->cftime, &ds->has_cftime));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_open(MPI_Comm comm, const char *path, const RoleOptions *ro, PetscInt halo, Dataset **out)
{
  Dataset *ds;
  IoFile  *f;

  PetscFunctionBeginUser;
  *out = NULL;
  PetscCall(PetscNew(&ds));
  ds->comm = comm;
  PetscCall(io_open(comm, path, &ds->file));
  f = ds->file;

  for (int r = ROLE_FAST; r < NUM_ROLES; r++)
    for (int i = 0; i < ro->n[r]; i++)
      PetscCheck(io_find_var(f, ro->name[r][i]) >= 0, comm, RACI_ERR_DATA, "%s: variable '%s' named by -%s is not in the file", path, ro->name[r][i], role_name[r]);
  /* within a role: the order of its option when given (so a model's inputs
   * keep their order whatever the file's order), else the file's order */
  for (int r = ROLE_FAST; r < NUM_ROLES; r++) {
    for (int i = 0; i < (ro->given[r] ? ro->n[r] : f->nvars); i++) {
      int  v = ro->given[r] ? io_find_var(f, ro->name[r][i]) : i;
      Role role;
      PetscCall(data_var_role(f, v, ro, &role));
      if (role != (Role)r) continue;
      PetscCheck(ds->nvar < DATA_MAX_VARS, comm, RACI_ERR_DATA, "%s: more than %d role variables", path, DATA_MAX_VARS);
      PetscCall(PetscStrncpy(ds->var[ds->nvar].name, f->vars[v].name, sizeof ds->var[ds->nvar].name));
      ds->var[ds->nvar].role  = role;
      ds->var[ds->nvar].varid = v;
      ds->nvar++;
    }
  }
  PetscCheck(ds->nvar > 0, comm, RACI_ERR_DATA, "%s: no variable has a role; add raci_role attributes or name variables with -fast, -slow and -target", path);
  PetscCall(check_layout(ds));
  PetscCall(read_time(ds));
  if (ds->layout == LAYOUT_GRID) {
    /* ranks get about equal numbers of valued cells (land): the cells where the
     * first fast variable has a value at the first time step; without fast
     * variables (eval's files) rows are split evenly, so that two files of the
     * same grid opened without fast variables get the same tiles */
    PetscInt   nx = (PetscInt)f->dims[ds->xdim].len, ny = (PetscInt)f->dims[ds->ydim].len;
    PetscMPIInt size;
    double    *w = NULL;
    float     *plane = NULL;
    PetscCallMPI(MPI_Comm_size(comm, &size));
    int k = -1;
    for (int i = ds->nvar - 1; i >= 0; i--)
      if (ds->var[i].role == ROLE_FAST) k = i;
    if (size > 1 && k >= 0 && ds->nt > 0) {
      /* each rank counts an even share of the rows, then the counts are summed */
      PetscMPIInt rank;
      PetscCallMPI(MPI_Comm_rank(comm, &rank));
      PetscInt   r0 = ny * rank / size, r1 = ny * (rank + 1) / size;
      MPI_Offset start[3] = {0, r0, 0}, count[3] = {1, r1 - r0, nx};
      int        three = f->vars[ds->var[k].varid].ndims == 3;
      PetscCall(PetscCalloc1(ny, &w));
      PetscCall(PetscMalloc1((size_t)nx * (r1 - r0) + 1, &plane));
      PetscCall(io_read_float(f, ds->var[k].varid, three ? start : start + 1, three ? count : count + 1, plane));
      for (PetscInt j = r0; j < r1; j++) {
        w[j] = 0.05 * (double)nx; /* cells without values still cost a little (I/O) */
        for (PetscInt i = 0; i < nx; i++) w[j] += !isnan(plane[(j - r0) * nx + i]);
      }
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, w, (PetscMPIInt)ny, MPI_DOUBLE, MPI_SUM, comm));
    }
    PetscCall(grid_tile_create(comm, nx, ny, halo, w, &ds->tile));
    PetscCall(PetscFree(w));
    PetscCall(PetscFree(plane));
  }
  else PetscCall(grid_sites_create(comm, (PetscInt)f->dims[ds->xdim].len, &ds->tile));
  PetscCall(PetscMalloc1(grid_owned_count(&ds->tile) + 1, &ds->usable));
  memset(ds->usable, 1, (size_t)grid_owned_count(&ds->tile));
  *out = ds;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_read(Dataset *ds, PetscInt t0, PetscInt nt)
{
  const Tile *t = &ds->tile;
  PetscInt    nplane = grid_ghost_count(t);

  PetscFunctionBeginUser;
  PetscCheck(t0 >= 0 && nt >= 0 && t0 + nt <= ds->nt, ds->comm, PETSC_ERR_ARG_OUTOFRANGE, "time steps [%" PetscInt_FMT ", %" PetscInt_FMT ") outside [0, %" PetscInt_FMT ")", t0, t0 + nt, ds->nt);
  PetscCall(core_stage_push(CORE_STAGE_LOAD));
  for (int k = 0; k < ds->nvar; k++) {
    DataVar   *dv = &ds->var[k];
    PetscBool  slow = (PetscBool)(dv->role == ROLE_SLOW);
    MPI_Offset start[3], count[3];
    int        d = 0;
    PetscInt   nsteps = slow ? 1 : nt;

    if (slow && dv->val) continue; /* static: read once */
    PetscCall(PetscFree(dv->val));
    PetscCall(PetscMalloc1(nsteps * nplane + 1, &dv->val));
    if (!slow) {
      start[d]   = t0;
      count[d++] = nt;
    }
    if (ds->layout == LAYOUT_GRID) {
      start[d]   = t->gys;
      count[d++] = t->gym;
    }
    start[d] = t->gxs;
    count[d] = t->gxm;
    PetscCall(io_read_float(ds->file, dv->varid, start, count, dv->val));

    for (PetscInt s = 0; s < nsteps; s++)
      for (PetscInt y = t->ys; y < t->ys + t->ym; y++)
        for (PetscInt x = t->xs; x < t->xs + t->xm; x++) {
          float    val = dv->val[s * nplane + data_ghost_index(t, x, y)];
          PetscInt o   = (y - t->ys) * t->xm + (x - t->xs);
          if (!isnan(val)) ds->nvalid[k]++;
          else if (dv->role != ROLE_TARGET) ds->usable[o] = 0;
        }
  }
  ds->t0  = t0;
  ds->ntr = nt;
  PetscCall(core_stage_pop());
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_check_usable(Dataset *ds, PetscInt *unusable, PetscInt *total)
{
  PetscInt valid[DATA_MAX_VARS], counts[2] = {0, grid_owned_count(&ds->tile)};

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(ds->nvalid, valid, ds->nvar, MPIU_INT, MPI_SUM, ds->comm));
  for (int k = 0; k < ds->nvar; k++)
    PetscCheck(valid[k] > 0 || ds->var[k].role == ROLE_TARGET, ds->comm, RACI_ERR_DATA, "%s: %s variable '%s' is entirely missing (every value is _FillValue or NaN)", ds->file->path, role_name[ds->var[k].role], ds->var[k].name);
  for (PetscInt i = 0; i < counts[1]; i++) counts[0] += ds->usable[i] ? 0 : 1;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPIU_INT, MPI_SUM, ds->comm));
  *unusable = counts[0];
  *total    = counts[1];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_close(Dataset **pds)
{
  Dataset *ds = *pds;

  PetscFunctionBeginUser;
  if (!ds) PetscFunctionReturn(PETSC_SUCCESS);
  for (int k = 0; k < ds->nvar; k++) PetscCall(PetscFree(ds->var[k].val));
  PetscCall(PetscFree(ds->usable));
  PetscCall(PetscFree(ds->time));
  PetscCall(grid_tile_destroy(&ds->tile));
  PetscCall(io_close(&ds->file));
  PetscCall(PetscFree(ds));
  *pds = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}
