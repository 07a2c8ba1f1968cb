/* data: CF-1.8 outputs in the layout of an input Dataset. */
#include <raci/data.h>

#include <math.h>
#include <string.h>

static PetscBool is_role_var(const Dataset *ds, int v)
{
  for (int k = 0; k < ds->nvar; k++)
    if (ds->var[k].varid == v) return PETSC_TRUE;
  return PETSC_FALSE;
}

static PetscBool lat_lon_name(const char *s)
{
  static const char *names[] = {"lat", "lon", "latitude", "longitude", "nav_lat", "nav_lon", NULL};
  for (int i = 0; names[i]; i++)
    if (!strcmp(s, names[i])) return PETSC_TRUE;
  return PETSC_FALSE;
}

/* Coordinate variables worth carrying over: the coordinate variable of a
 * dimension, auxiliary latitude/longitude, and site identifiers. */
static PetscErrorCode is_coordinate(const Dataset *ds, int v, PetscBool *yes)
{
  const IoFile *f   = ds->file;
  const IoVar  *var = &f->vars[v];
  char          sn[64];
  PetscBool     found, dims_ok = PETSC_TRUE;

  PetscFunctionBeginUser;
  *yes = PETSC_FALSE;
  if (is_role_var(ds, v) || var->ndims < 1) PetscFunctionReturn(PETSC_SUCCESS);
  if (var->type == NC_CHAR) {
    /* site_id(site, nchar) */
    *yes = (PetscBool)(ds->layout == LAYOUT_SITE && var->ndims == 2 && var->dimids[0] == ds->xdim);
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  for (int d = 0; d < var->ndims; d++)
    dims_ok = (PetscBool)(dims_ok &&
                          (var->dimids[d] == ds->tdim || var->dimids[d] == ds->ydim || var->dimids[d] == ds->xdim));
  if (!dims_ok) PetscFunctionReturn(PETSC_SUCCESS);
  if (var->ndims == 1 && !strcmp(var->name, f->dims[var->dimids[0]].name)) {
    *yes = PETSC_TRUE;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(io_att_text(f, v, "standard_name", sn, sizeof sn, &found));
  if (var->dimids[0] == ds->tdim) PetscFunctionReturn(PETSC_SUCCESS);
  *yes = (PetscBool)(lat_lon_name(var->name) || (found && (!strcmp(sn, "latitude") || !strcmp(sn, "longitude"))));
  PetscFunctionReturn(PETSC_SUCCESS);
}

void data_cell_bounds(const double *c, int n, double *b)
{
  for (int i = 0; i < n; i++) {
    double lo = i > 0 ? 0.5 * (c[i - 1] + c[i]) : n > 1 ? c[0] - 0.5 * (c[1] - c[0]) : c[0] - 0.5;
    double hi = i < n - 1 ? 0.5 * (c[i] + c[i + 1]) : n > 1 ? c[n - 1] + 0.5 * (c[n - 1] - c[n - 2]) : c[0] + 0.5;
    b[2 * i] = lo, b[2 * i + 1] = hi;
  }
}

/* CF: a coordinate's long_name, when the input has none */
static PetscErrorCode coord_long_name(IoFile *out, int v, const char *name)
{
  const char *ln = !strcmp(name, "time")                                ? "time"
                   : !strcmp(name, "lat") || !strcmp(name, "latitude")  ? "latitude"
                   : !strcmp(name, "lon") || !strcmp(name, "longitude") ? "longitude"
                   : !strcmp(name, "site_id")                           ? "site identifier"
                                                                        : NULL;
  PetscFunctionBeginUser;
  if (ln) PetscCall(io_put_att_text(out, v, "long_name", ln));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_def_output(const Dataset *ds, IoFile *out, const char *title, DataOutLayout *L)
{
  const IoFile *f           = ds->file;
  const char   *skip_glob[] = {"history", "Conventions", NULL, NULL};
  /* CF 5: coordinates have no missing values; bounds variables are not copied */
  static const char *skip_var[] = {"bounds", "_FillValue", "missing_value", NULL};
  int                map[IO_MAX_DIMS], nv = -1;
  char               line[4096], *hist;
  size_t             old;
  PetscBool          found;

  PetscFunctionBeginUser;
  for (int d = 0; d < IO_MAX_DIMS; d++) map[d] = -1;
  L->tdim = L->ydim = L->xdim = -1;
  L->ncoord                   = 0;
  if (ds->tdim >= 0) PetscCall(io_def_dim(out, f->dims[ds->tdim].name, f->dims[ds->tdim].len, &L->tdim));
  if (ds->ydim >= 0) PetscCall(io_def_dim(out, f->dims[ds->ydim].name, f->dims[ds->ydim].len, &L->ydim));
  PetscCall(io_def_dim(out, f->dims[ds->xdim].name, f->dims[ds->xdim].len, &L->xdim));
  if (ds->tdim >= 0) map[ds->tdim] = L->tdim;
  if (ds->ydim >= 0) map[ds->ydim] = L->ydim;
  map[ds->xdim] = L->xdim;

  for (int v = 0; v < f->nvars; v++) {
    const IoVar *var = &f->vars[v];
    int          dims[IO_MAX_DIMS];
    PetscBool    yes;

    PetscCall(is_coordinate(ds, v, &yes));
    if (!yes || L->ncoord == DATA_MAX_COORDS) continue;
    for (int d = 0; d < var->ndims; d++) {
      if (map[var->dimids[d]] < 0)
        PetscCall(io_def_dim(out, f->dims[var->dimids[d]].name, f->dims[var->dimids[d]].len, &map[var->dimids[d]]));
      dims[d] = map[var->dimids[d]];
    }
    L->coord_src[L->ncoord]  = v;
    L->coord_bnds[L->ncoord] = -1;
    PetscCall(io_def_var(out, var->name, var->type, var->ndims, dims, &L->coord_dst[L->ncoord]));
    PetscCall(io_copy_atts(f, v, out, L->coord_dst[L->ncoord], skip_var));
    if (!io_att_text_len(f, v, "long_name")) PetscCall(coord_long_name(out, L->coord_dst[L->ncoord], var->name));
    if (ds->layout == LAYOUT_GRID && var->ndims == 1 && var->type != NC_CHAR &&
        (var->dimids[0] == ds->ydim || var->dimids[0] == ds->xdim)) { /* cell bounds of a grid axis */
      char bname[NC_MAX_NAME + 8];
      int  bd[2];
      if (nv < 0) PetscCall(io_def_dim(out, "nv", 2, &nv));
      bd[0] = dims[0], bd[1] = nv;
      PetscCall(PetscSNPrintf(bname, sizeof bname, "%s_bnds", var->name));
      PetscCall(io_def_var(out, bname, NC_DOUBLE, 2, bd, &L->coord_bnds[L->ncoord]));
      PetscCall(io_put_att_text(out, L->coord_dst[L->ncoord], "bounds", bname));
    }
    L->ncoord++;
  }

  /* canonical order, whatever the input's: Conventions, title, the rest, history */
  skip_glob[2] = "title";
  PetscCall(io_put_att_text(out, NC_GLOBAL, "Conventions", "CF-1.8"));
  if (title)
    PetscCall(io_put_att_text(out, NC_GLOBAL, "title", title));
  else if (io_att_text_len(f, NC_GLOBAL, "title"))
    PetscCall(io_agree_nc(out->comm, ncmpi_copy_att(f->ncid, NC_GLOBAL, "title", out->ncid, NC_GLOBAL), RACI_ERR_WRITE,
                          out->path, "title"));
  PetscCall(io_copy_atts(f, NC_GLOBAL, out, NC_GLOBAL, skip_glob));
  PetscCall(core_history_line(line, sizeof line));
  old = io_att_text_len(f, NC_GLOBAL, "history");
  PetscCall(PetscMalloc1(strlen(line) + old + 2, &hist));
  PetscCall(PetscStrcpy(hist, line));
  if (old) {
    size_t l = strlen(line);
    hist[l]  = '\n';
    PetscCall(io_att_text(f, NC_GLOBAL, "history", hist + l + 1, old + 1, &found));
  }
  PetscCall(io_put_att_text(out, NC_GLOBAL, "history", hist));
  PetscCall(PetscFree(hist));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_def_field(const Dataset *ds, IoFile *out, const DataOutLayout *L, const char *name,
                              PetscBool timevarying, int *varid)
{
  PetscFunctionBeginUser;
  PetscCheck(!timevarying || L->tdim >= 0, ds->comm, PETSC_ERR_ARG_WRONG,
             "field '%s' is time-varying but the output has no time dimension", name);
  PetscCall(data_def_field_lead(ds, out, L, name, timevarying ? L->tdim : -1, varid));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_def_field_lead(const Dataset *ds, IoFile *out, const DataOutLayout *L, const char *name, int lead,
                                   int *varid)
{
  int   dims[3], n = 0;
  float fill = DATA_FILL;

  PetscFunctionBeginUser;
  (void)ds;
  if (lead >= 0) dims[n++] = lead;
  if (L->ydim >= 0) dims[n++] = L->ydim;
  dims[n++] = L->xdim;
  PetscCall(io_def_var(out, name, NC_FLOAT, n, dims, varid));
  PetscCall(io_put_att_float(out, *varid, "_FillValue", NC_FLOAT, 1, &fill));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_put_coords(const Dataset *ds, IoFile *out, const DataOutLayout *L)
{
  const IoFile *f = ds->file;
  PetscMPIInt   rank;
  double       *num[DATA_MAX_COORDS] = {NULL};
  char         *txt[DATA_MAX_COORDS] = {NULL};

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(ds->comm, &rank));
  /* Coordinates are small: every rank reads them, rank 0 writes them. */
  for (int c = 0; c < L->ncoord; c++) {
    const IoVar *var                = &f->vars[L->coord_src[c]];
    MPI_Offset   start[IO_MAX_DIMS] = {0}, count[IO_MAX_DIMS], wcount[IO_MAX_DIMS], n = 1;
    for (int d = 0; d < var->ndims; d++) {
      count[d]  = f->dims[var->dimids[d]].len;
      wcount[d] = rank == 0 ? count[d] : 0;
      n *= count[d];
    }
    if (var->type == NC_CHAR) {
      PetscCall(PetscMalloc1(n + 1, &txt[c]));
      PetscCall(io_read_text(f, L->coord_src[c], start, count, txt[c]));
      PetscCall(io_iput_text(out, L->coord_dst[c], start, wcount, txt[c]));
    } else {
      PetscCall(PetscMalloc1(3 * n + 1, &num[c])); /* the values, then their bounds */
      PetscCall(io_read_double(f, L->coord_src[c], start, count, num[c]));
      PetscCall(io_iput_double(out, L->coord_dst[c], start, wcount, num[c]));
      if (L->coord_bnds[c] >= 0) {
        MPI_Offset bcount[2] = {wcount[0], rank == 0 ? 2 : 0};
        data_cell_bounds(num[c], (int)n, num[c] + n);
        PetscCall(io_iput_double(out, L->coord_bnds[c], start, bcount, num[c] + n));
      }
    }
  }
  PetscCall(io_wait_all(out));
  for (int c = 0; c < L->ncoord; c++) {
    PetscCall(PetscFree(num[c]));
    PetscCall(PetscFree(txt[c]));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_iput_field(const Tile *t, Layout layout, IoFile *out, int varid, PetscBool timevarying, PetscInt t0,
                               PetscInt nt, const float *ghosted, float *pack)
{
  PetscInt   nplane = grid_ghost_count(t), nsteps = timevarying ? nt : 1, i = 0;
  MPI_Offset start[3], count[3];
  int        d = 0;

  PetscFunctionBeginUser;
  for (PetscInt s = 0; s < nsteps; s++)
    for (PetscInt y = t->ys; y < t->ys + t->ym; y++)
      for (PetscInt x = t->xs; x < t->xs + t->xm; x++) {
        float v   = ghosted[s * nplane + data_ghost_index(t, x, y)];
        pack[i++] = isnan(v) ? DATA_FILL : v;
      }
  if (timevarying) {
    start[d]   = t0;
    count[d++] = nt;
  }
  if (layout == LAYOUT_GRID) {
    start[d]   = t->ys;
    count[d++] = t->ym;
  }
  start[d] = t->xs;
  count[d] = t->xm;
  PetscCall(io_iput_float(out, varid, start, count, pack));
  PetscFunctionReturn(PETSC_SUCCESS);
}
