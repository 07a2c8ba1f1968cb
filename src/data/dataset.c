/* data: roles, layout checks and the tile-plus-halo read of an input file. */
#include <raci/data.h>
#include <raci/quantity.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *const role_name[NUM_ROLES] = {"none", "fast", "slow", "target"};

PetscErrorCode data_role_options(MPI_Comm comm, RoleOptions *ro)
{
  static const char *help[NUM_ROLES] = {NULL, "Fast drivers x_f(i,t), comma-separated names",
                                        "Slow attributes s(i), comma-separated names",
                                        "Targets y(i,t), comma-separated names"};

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(ro, sizeof *ro));
  PetscCall(core_opt_section(comm, "Data roles (options replace raci_role attributes)"));
  for (int r = ROLE_FAST; r < NUM_ROLES; r++) {
    char     opt[16], *list[DATA_MAX_VARS];
    PetscInt n = DATA_MAX_VARS;
    PetscCall(PetscSNPrintf(opt, sizeof opt, "-%s", role_name[r]));
    PetscCall(core_opt_strings(comm, opt, help[r], list, &n, &ro->given[r]));
    for (PetscInt i = 0; i < n; i++) {
      PetscCheck(strlen(list[i]) <= NC_MAX_NAME, comm, RACI_ERR_INPUT, "%s: variable name too long: %s", opt, list[i]);
      PetscCall(PetscStrncpy(ro->name[r][i], list[i], sizeof ro->name[r][i]));
      PetscCall(PetscFree(list[i]));
    }
    ro->n[r] = (int)n;
  }
  /* a variable has one role: named twice, or in two roles, is a mistake */
  for (int r = ROLE_FAST; r < NUM_ROLES; r++)
    for (int i = 0; i < ro->n[r]; i++)
      for (int q = ROLE_FAST; q <= r; q++)
        for (int j = 0; j < (q == r ? i : ro->n[q]); j++) {
          PetscCheck(q != r || strcmp(ro->name[r][i], ro->name[q][j]), comm, RACI_ERR_INPUT, "-%s names '%s' twice",
                     role_name[r], ro->name[r][i]);
          PetscCheck(strcmp(ro->name[r][i], ro->name[q][j]), comm, RACI_ERR_INPUT,
                     "'%s' is given two roles, -%s and -%s (a variable is fast, slow or target)", ro->name[r][i],
                     role_name[q], role_name[r]);
        }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_opt_halo(MPI_Comm comm, PetscInt *halo)
{
  PetscFunctionBeginUser;
  PetscCall(core_opt_int(comm, "-grid_halo", "Halo width in cells read around each tile (geographic neighbours)", 1, 0,
                         1000, halo, NULL));
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
  PetscCheck(!strcmp(att, "none"), f->comm, RACI_ERR_DATA,
             "%s: variable '%s' has raci_role \"%s\"; expected fast, slow, target or none", f->path, f->vars[v].name,
             att);
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* "(time, lat, lon)" */
static void dims_string(const IoFile *f, int ndims, const int dimids[], char *buf, size_t len)
{
  size_t used = 0;
  used += (size_t)snprintf(buf, len, "(");
  for (int d = 0; d < ndims && used < len; d++)
    used += (size_t)snprintf(buf + used, len - used, "%s%s", d ? ", " : "", f->dims[dimids[d]].name);
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
  const IoFile *f   = ds->file;
  int           ref = -1, sdims;
  const IoVar  *rv;
  char          want[256], have[256];

  PetscFunctionBeginUser;
  /* reference: the first time-varying role variable, else the first slow one */
  for (int k = 0; k < ds->nvar && ref < 0; k++)
    if (ds->var[k].role != ROLE_SLOW) ref = k;
  if (ref < 0) ref = 0;
  rv = &f->vars[ds->var[ref].varid];
  PetscCheck(rv->ndims >= 1, ds->comm, RACI_ERR_DATA,
             "%s: variable '%s' is a scalar; a %s variable needs spatial dimensions", f->path, rv->name,
             role_name[ds->var[ref].role]);
  ds->xdim   = rv->dimids[rv->ndims - 1];
  ds->layout = (!strcmp(f->dims[ds->xdim].name, "site") || !strcmp(f->dims[ds->xdim].name, "station")) ? LAYOUT_SITE
                                                                                                       : LAYOUT_GRID;
  sdims      = ds->layout == LAYOUT_SITE ? 1 : 2;
  ds->ydim   = -1;
  ds->tdim   = -1;
  if (ds->layout == LAYOUT_GRID) {
    PetscCheck(rv->ndims >= 2, ds->comm, RACI_ERR_DATA,
               "%s: variable '%s' has dimensions %s; gridded inputs need (time, y, x) or (y, x) and site inputs a "
               "dimension named site",
               f->path, rv->name, (dims_string(f, rv->ndims, rv->dimids, have, sizeof have), have));
    ds->ydim = rv->dimids[rv->ndims - 2];
  }
  if (ds->var[ref].role != ROLE_SLOW) {
    PetscBool timeish;
    PetscCheck(rv->ndims == sdims + 1, ds->comm, RACI_ERR_DATA,
               "%s: %s variable '%s' has dimensions %s; expected (time, %s%s%s)", f->path, role_name[ds->var[ref].role],
               rv->name, (dims_string(f, rv->ndims, rv->dimids, have, sizeof have), have),
               ds->layout == LAYOUT_GRID ? f->dims[ds->ydim].name : "", ds->layout == LAYOUT_GRID ? ", " : "",
               f->dims[ds->xdim].name);
    ds->tdim = rv->dimids[0];
    PetscCall(is_time_dim(f, ds->tdim, &timeish));
    PetscCheck(timeish, ds->comm, RACI_ERR_DATA,
               "%s: %s variable '%s' has dimensions %s, but '%s' is not a time axis (not unlimited, not named time, no "
               "\"<unit> since <date>\" coordinate)",
               f->path, role_name[ds->var[ref].role], rv->name, have, f->dims[ds->tdim].name);
  }

  for (int k = 0; k < ds->nvar; k++) {
    const IoVar *v           = &f->vars[ds->var[k].varid];
    PetscBool    timevarying = (PetscBool)(ds->var[k].role != ROLE_SLOW);
    int          expect[3], ne = 0;
    PetscBool    ok;

    PetscCheck(v->type != NC_CHAR, ds->comm, RACI_ERR_DATA, "%s: %s variable '%s' holds characters, not numbers",
               f->path, role_name[ds->var[k].role], v->name);
    if (timevarying) {
      PetscCheck(ds->tdim >= 0, ds->comm, RACI_ERR_DATA, "%s: %s variable '%s' needs a time dimension", f->path,
                 role_name[ds->var[k].role], v->name);
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
      PetscCheck(!(timeish && rest), ds->comm, RACI_ERR_DATA,
                 "%s: time axis of '%s' (%s, %lld steps) does not match that of '%s' (%s, %lld steps)", f->path,
                 v->name, f->dims[v->dimids[0]].name, (long long)f->dims[v->dimids[0]].len, rv->name,
                 f->dims[ds->tdim].name, (long long)f->dims[ds->tdim].len);
    }
    PetscCheck(ok, ds->comm, RACI_ERR_DATA, "%s: %s variable '%s' has dimensions %s; expected %s", f->path,
               role_name[ds->var[k].role], v->name, have, want);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* "<unit> since <date>" units that io_cftime_parse did not take: months and
 * years (no fixed length) and unknown calendars are errors (docs/DATA.md,
 * Time); other units leave the file without a CF time axis. */
static PetscErrorCode check_time_units(const Dataset *ds, int v, const char *units, const char *cal)
{
  static const char *const nofixed[] = {"months", "month", "mons",         "mon",         "years", "year",
                                        "yrs",    "yr",    "common_years", "common_year", NULL};
  const IoFile            *f         = ds->file;
  const char              *p         = units;
  char                     word[32];
  int                      n = 0;
  CfTime                   t;
  PetscBool                ok;

  PetscFunctionBeginUser;
  while (*p == ' ' || *p == '\t') p++;
  while (*p && *p != ' ' && *p != '\t' && n < (int)sizeof word - 1) word[n++] = *p++;
  word[n] = '\0';
  while (*p == ' ' || *p == '\t') p++;
  if (strncasecmp(p, "since", 5)) PetscFunctionReturn(PETSC_SUCCESS);
  for (int i = 0; nofixed[i]; i++)
    PetscCheck(strcasecmp(word, nofixed[i]), ds->comm, RACI_ERR_DATA,
               "%s: time coordinate '%s' has units '%s': months and years have no fixed length; raci needs days, "
               "hours, minutes or seconds since a date",
               f->path, f->vars[v].name, units);
  PetscCall(io_cftime_parse(units, "", &t, &ok));
  PetscCheck(!ok, ds->comm, RACI_ERR_DATA,
             "%s: time coordinate '%s' has calendar '%s', which raci does not know (standard, gregorian, "
             "proleptic_gregorian, julian, noleap, 365_day, all_leap, 366_day, 360_day)",
             f->path, f->vars[v].name, cal);
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscErrorCode read_time(Dataset *ds)
{
  const IoFile *f     = ds->file;
  MPI_Offset    start = 0, count;
  int           v;

  PetscFunctionBeginUser;
  ds->time_varid = -1;
  ds->nt         = 0;
  if (ds->tdim < 0) PetscFunctionReturn(PETSC_SUCCESS);
  ds->nt = (PetscInt)f->dims[ds->tdim].len;
  PetscCheck(ds->nt > 0, ds->comm, RACI_ERR_DATA, "%s has 0 time steps (its time dimension '%s' is empty)", f->path,
             f->dims[ds->tdim].name);
  v = io_find_var(f, f->dims[ds->tdim].name);
  if (v < 0 || f->vars[v].ndims != 1 || f->vars[v].dimids[0] != ds->tdim) PetscFunctionReturn(PETSC_SUCCESS);
  ds->time_varid = v;
  count          = ds->nt;
  PetscCall(PetscMalloc1(ds->nt > 0 ? ds->nt : 1, &ds->time));
  PetscCall(io_read_double(f, v, &start, &count, ds->time));
  for (PetscInt t = 1; t < ds->nt; t++)
    PetscCheck(ds->time[t] > ds->time[t - 1], ds->comm, RACI_ERR_DATA,
               "%s: time coordinate '%s' is not increasing at step %" PetscInt_FMT " (%.10g after %.10g)", f->path,
               f->vars[v].name, t, ds->time[t], ds->time[t - 1]);
  {
    char      units[128], cal[64];
    PetscBool found_units, found;
    PetscCall(io_att_text(f, v, "units", units, sizeof units, &found_units));
    PetscCall(io_att_text(f, v, "calendar", cal, sizeof cal, &found));
    PetscCall(io_cftime_parse(units, cal, &ds->cftime, &ds->has_cftime));
    if (!ds->has_cftime && found_units) PetscCall(check_time_units(ds, v, units, cal));
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
      PetscCheck(io_find_var(f, ro->name[r][i]) >= 0, comm, RACI_ERR_DATA,
                 "%s: variable '%s' named by -%s is not in the file", path, ro->name[r][i], role_name[r]);
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
  PetscCheck(ds->nvar > 0, comm, RACI_ERR_DATA,
             "%s: no variable has a role; add raci_role attributes or name variables with -fast, -slow and -target",
             path);
  PetscCall(check_layout(ds));
  PetscCall(read_time(ds));
  if (ds->layout == LAYOUT_GRID) {
    /* ranks get about equal numbers of valued cells (land): the cells where the
     * first fast variable has a value at the first time step; without fast
     * variables (eval's files) rows are split evenly, so that two files of the
     * same grid opened without fast variables get the same tiles */
    PetscInt    nx = (PetscInt)f->dims[ds->xdim].len, ny = (PetscInt)f->dims[ds->ydim].len;
    PetscMPIInt size;
    double     *w     = NULL;
    float      *plane = NULL;
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
  } else
    PetscCall(grid_sites_create(comm, (PetscInt)f->dims[ds->xdim].len, &ds->tile));
  PetscCall(PetscMalloc1(grid_owned_count(&ds->tile) + 1, &ds->usable));
  memset(ds->usable, 1, (size_t)grid_owned_count(&ds->tile));
  PetscCall(PetscCalloc1(grid_owned_count(&ds->tile) + 1, &ds->anyvalid));
  *out = ds;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ------------------------------------------------------------ value checks */

PetscErrorCode data_check_options(MPI_Comm comm, DataChecks *dc)
{
  char mode[16] = "error";

  PetscFunctionBeginUser;
  PetscCall(PetscMemzero(dc, sizeof *dc));
  PetscCall(core_opt_section(comm, "Input checks"));
  PetscCall(core_opt_string(comm, "-out_of_range",
                            "Values outside the physical range of a canonical variable: error or missing", mode,
                            sizeof mode, NULL));
  PetscCheck(!strcmp(mode, "error") || !strcmp(mode, "missing"), comm, RACI_ERR_INPUT,
             "-out_of_range %s: use error or missing", mode);
  dc->oor_missing = (PetscBool)!strcmp(mode, "missing");
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_var_units(const Dataset *ds, int k, char *buf, size_t len)
{
  PetscBool found;

  PetscFunctionBeginUser;
  PetscCall(io_att_text(ds->file, ds->var[k].varid, "units", buf, len, &found));
  if (!found) buf[0] = '\0';
  PetscFunctionReturn(PETSC_SUCCESS);
}

int64_t data_location_key(double lon, double lat, const char *site, int64_t gid)
{
  if (site && site[0]) { /* FNV-1a of the site id; negative, so never a coordinate key */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = site; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    return -1 - (int64_t)(h >> 1);
  }
  if (!isfinite(lon) || !isfinite(lat) || fabs(lat) > 90.5 || fabs(lon) > 1e6)
    return INT64_MIN + gid; /* no usable coordinates */
  {
    double    l  = fmod(lon, 360.0);
    long long lo = llround((l < 0 ? l + 360.0 : l) * 1e4), la = llround((lat + 90.0) * 1e4);
    if (lo >= 3600000) lo -= 3600000;
    return (int64_t)la * 3600000 + lo;
  }
}

/* "time step is 1 hour": the length of a step in words. */
static void step_text(double sec, char *buf, size_t len)
{
  double r = round(sec);
  if (fabs(sec - r) < 1e-3 && r >= 86400 && fmod(r, 86400) == 0)
    snprintf(buf, len, "%g day%s", r / 86400, r == 86400 ? "" : "s");
  else if (fabs(sec - r) < 1e-3 && r >= 3600 && fmod(r, 3600) == 0)
    snprintf(buf, len, "%g hour%s", r / 3600, r == 3600 ? "" : "s");
  else if (fabs(sec - r) < 1e-3 && r >= 60 && fmod(r, 60) == 0)
    snprintf(buf, len, "%g minute%s", r / 60, r == 60 ? "" : "s");
  else if (sec >= 86400)
    snprintf(buf, len, "%.6g days", sec / 86400);
  else
    snprintf(buf, len, "%.6g seconds", sec);
}

PetscErrorCode data_checks_enable(Dataset *ds, const DataChecks *dc, PetscBool training)
{
  const IoFile *f = ds->file;

  PetscFunctionBeginUser;
  /* one step per day (every rank holds the whole time coordinate) */
  if (ds->time_varid >= 0 && ds->nt > 0) {
    const char *tname = f->vars[ds->time_varid].name;
    char        units[128];
    PetscBool   found;
    PetscCall(io_att_text(f, ds->time_varid, "units", units, sizeof units, &found));
    PetscCheck(
        ds->has_cftime, ds->comm, RACI_ERR_DATA,
        "%s: time coordinate '%s' has %s%s%s, not \"<unit> since <date>\", so raci cannot tell that the data are daily",
        f->path, tname, found ? "units '" : "no units attribute", found ? units : "", found ? "'" : "");
    for (PetscInt t = 1; t < ds->nt; t++) {
      double dt  = (ds->time[t] - ds->time[t - 1]) * ds->cftime.unit_seconds,
             tol = 1e-3 + 1e-7 * fabs(ds->time[t]) * ds->cftime.unit_seconds;
      if (fabs(dt - 86400.0) > tol) {
        char step[64], a[40], b[40];
        step_text(dt, step, sizeof step);
        io_cftime_format(&ds->cftime, ds->time[t - 1], a, sizeof a);
        io_cftime_format(&ds->cftime, ds->time[t], b, sizeof b);
        SETERRQ(ds->comm, RACI_ERR_DATA,
                "%s: time step is %s (%s to %s, steps %" PetscInt_FMT " and %" PetscInt_FMT
                " of '%s'); raci needs daily data, one step per day",
                f->path, step, a, b, t - 1, t, tname);
      }
    }
  }
  /* canonical variables in their canonical units */
  if (training)
    for (int k = 0; k < ds->nvar; k++) {
      const Quantity *q = quantity_find(ds->var[k].name);
      char            u[256];
      if (!q) continue;
      PetscCall(data_var_units(ds, k, u, sizeof u));
      PetscCheck(quantity_units_same(u, q->units), ds->comm, RACI_ERR_DATA,
                 "%s: %s variable '%s' is in %s%s%s; raci expects %s in '%s' (docs/DATA.md, Checks): convert it",
                 f->path, role_name[ds->var[k].role], ds->var[k].name, u[0] ? "'" : "",
                 u[0] ? u : "no units (no units attribute)", u[0] ? "'" : "", q->name, q->units);
    }
  ds->check_values = PETSC_TRUE;
  ds->oor_missing  = dc->oor_missing;
  ds->checked_to   = 0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* Where location gid is, in words: coordinates and index (grids) or site id.
 * Collective (every rank reads the same few values). */
static PetscErrorCode describe_location(const Dataset *ds, int64_t gid, char *buf, size_t len)
{
  const IoFile *f   = ds->file;
  const Tile   *t   = &ds->tile;
  double        lon = NAN, lat = NAN;
  char          site[128] = "";

  PetscFunctionBeginUser;
  if (ds->layout == LAYOUT_GRID) {
    MPI_Offset x = gid % t->nx, y = gid / t->nx, one = 1;
    int        vx = io_find_var(f, f->dims[ds->xdim].name), vy = io_find_var(f, f->dims[ds->ydim].name);
    if (vx >= 0 && vy >= 0 && f->vars[vx].ndims == 1 && f->vars[vy].ndims == 1 && f->vars[vx].type != NC_CHAR &&
        f->vars[vy].type != NC_CHAR) {
      PetscCall(io_read_double(f, vx, &x, &one, &lon));
      PetscCall(io_read_double(f, vy, &y, &one, &lat));
    } else {
      vx = io_find_var(f, "lon"), vy = io_find_var(f, "lat");
      if (vx >= 0 && vy >= 0 && f->vars[vx].ndims == 2 && f->vars[vy].ndims == 2) {
        MPI_Offset s[2] = {y, x}, c[2] = {1, 1};
        PetscCall(io_read_double(f, vx, s, c, &lon));
        PetscCall(io_read_double(f, vy, s, c, &lat));
      }
    }
    if (isnan(lon))
      snprintf(buf, len, "at cell x %lld, y %lld", (long long)x, (long long)y);
    else
      snprintf(buf, len, "at lon %g, lat %g (cell x %lld, y %lld)", lon, lat, (long long)x, (long long)y);
  } else {
    int        v = io_find_var(f, "site_id"), vx = io_find_var(f, "lon"), vy = io_find_var(f, "lat");
    MPI_Offset s = gid, one = 1;
    if (v >= 0 && f->vars[v].ndims == 2 && f->vars[v].type == NC_CHAR) {
      MPI_Offset nch = f->dims[f->vars[v].dimids[1]].len, s2[2] = {gid, 0},
                 c2[2] = {1, nch < (MPI_Offset)sizeof site ? nch : (MPI_Offset)sizeof site - 1};
      PetscCall(io_read_text(f, v, s2, c2, site));
      site[c2[1]] = '\0';
    }
    if (vx >= 0 && vy >= 0 && f->vars[vx].ndims == 1 && f->vars[vy].ndims == 1 && f->vars[vx].dimids[0] == ds->xdim &&
        f->vars[vy].dimids[0] == ds->xdim) {
      PetscCall(io_read_double(f, vx, &s, &one, &lon));
      PetscCall(io_read_double(f, vy, &s, &one, &lat));
    }
    if (isnan(lon))
      snprintf(buf, len, "at site %s%s(index %lld)", site, site[0] ? " " : "", (long long)gid);
    else
      snprintf(buf, len, "at site %s%s(index %lld; lon %g, lat %g)", site, site[0] ? " " : "", (long long)gid, lon,
               lat);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* " on 2001-03-04 (time step 62)" of absolute time step t. Local. */
static void day_text(const Dataset *ds, PetscInt t, char *buf, size_t len)
{
  char date[40];
  if (ds->has_cftime && ds->time) {
    io_cftime_format(&ds->cftime, ds->time[t], date, sizeof date);
    snprintf(buf, len, " on %s (time step %lld)", date, (long long)t);
  } else
    snprintf(buf, len, " on time step %lld", (long long)t);
}

#define NO_KEY INT64_MAX

/* The first problem of variable k among nsteps planes read from step t0
 * (key: step * locations + location id; owned locations only, so that a value
 * is reported by exactly one rank): bad (not finite; huge; out of range under
 * -out_of_range error) and out of range made missing, counted on steps not
 * counted before. Halo values get the same treatment as owned ones. */
static void scan_values(Dataset *ds, int k, PetscInt t0, PetscInt nsteps, int64_t key[2], double val[2], int64_t *noor)
{
  const Tile     *t      = &ds->tile;
  DataVar        *dv     = &ds->var[k];
  const Quantity *q      = quantity_find(dv->name);
  PetscInt        nplane = grid_ghost_count(t);
  int64_t         nglob  = (int64_t)t->nx * t->ny;

  for (PetscInt s = 0; s < nsteps; s++)
    for (PetscInt g = 0; g < nplane; g++) {
      float    *v = &dv->val[s * nplane + g];
      PetscInt  x = t->gxs + g % t->gxm, y = t->gys + g / t->gxm;
      PetscBool owned = (PetscBool)(x >= t->xs && x < t->xs + t->xm && y >= t->ys && y < t->ys + t->ym);
      int64_t   kk    = (int64_t)(t0 + s) * nglob + (int64_t)y * t->nx + x;
      int       bad;
      if (isnan(*v)) continue;
      bad = !isfinite(*v) || (!q && fabsf(*v) > 1e15f);
      if (!bad && q && (*v < q->lo || *v > q->hi)) {
        if (!ds->oor_missing)
          bad = 1;
        else {
          if (owned && t0 + s >= ds->checked_to) {
            (*noor)++;
            if (kk < key[1]) key[1] = kk, val[1] = *v;
          }
          *v = NAN;
        }
      }
      if (bad && owned && kk < key[0]) key[0] = kk, val[0] = *v;
    }
}

/* Agreement on what scan_values found: the first bad value of any variable is
 * an error; out-of-range values made missing get one line per variable. */
static PetscErrorCode report_values(Dataset *ds, int64_t key[][2], double val[][2], int64_t *noor)
{
  const Tile *t     = &ds->tile;
  int64_t     nglob = (int64_t)t->nx * t->ny, gkey[2 * DATA_MAX_VARS];
  double      gval[2 * DATA_MAX_VARS];
  int         n = 2 * ds->nvar;

  PetscFunctionBeginUser;
  for (int k = 0; k < ds->nvar; k++) gkey[2 * k] = key[k][0], gkey[2 * k + 1] = key[k][1];
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, gkey, n, MPI_INT64_T, MPI_MIN, ds->comm));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, noor, ds->nvar, MPI_INT64_T, MPI_SUM, ds->comm));
  for (int i = 0; i < n; i++)
    gval[i] =
        gkey[i] != NO_KEY && key[i / 2][i % 2] == gkey[i] ? val[i / 2][i % 2] : 0.0; /* one rank owns the location */
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, gval, n, MPI_DOUBLE, MPI_SUM, ds->comm));
  for (int j = 0; j < n; j++) {
    int             i  = j < ds->nvar ? 2 * j : 2 * (j - ds->nvar) + 1; /* errors first */
    int             k  = i / 2;
    const DataVar  *dv = &ds->var[k];
    const Quantity *q  = quantity_find(dv->name);
    char            where[300], day[80] = "";
    double          v = gval[i];
    if (gkey[i] == NO_KEY || (i % 2 == 1 && noor[k] == 0)) continue;
    PetscCall(describe_location(ds, gkey[i] % nglob, where, sizeof where));
    if (dv->role != ROLE_SLOW) day_text(ds, (PetscInt)(gkey[i] / nglob), day, sizeof day);
    /* snprintf, not PETSc's formatting, which prints %g as "500." */
    if (i % 2 == 0) {
      char msg[PETSC_MAX_PATH_LEN + 1024];
      if (!isfinite(v))
        snprintf(msg, sizeof msg, "%s: %s variable '%s' is %g %s%s: raci refuses values that are not finite numbers",
                 ds->file->path, role_name[dv->role], dv->name, v, where, day);
      else if (!q)
        snprintf(
            msg, sizeof msg,
            "%s: %s variable '%s' is %g %s%s: beyond 1e15, an undeclared missing value? (declare it with _FillValue)",
            ds->file->path, role_name[dv->role], dv->name, v, where, day);
      else
        snprintf(msg, sizeof msg,
                 "%s: %s variable '%s' is %g %s%s, outside the physical range of %s, %g..%g %s%s (-out_of_range "
                 "missing makes such values missing)",
                 ds->file->path, role_name[dv->role], dv->name, v, where, day, q->name, q->lo, q->hi, q->units,
                 v == -9999 || v == -999 || v == -99999 ? "; a missing-value marker? declare it with _FillValue" : "");
      SETERRQ(ds->comm, RACI_ERR_DATA, "%s", msg);
    }
    {
      char line[PETSC_MAX_PATH_LEN + 1024];
      snprintf(line, sizeof line,
               "raci: %s: %lld value%s of '%s' outside the physical range %g..%g %s set missing (-out_of_range "
               "missing); the first: %g %s%s\n",
               ds->file->path, (long long)noor[k], noor[k] == 1 ? "" : "s", dv->name, q->lo, q->hi, q->units, v, where,
               day);
      PetscCall(PetscPrintf(ds->comm, "%s", line));
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_read(Dataset *ds, PetscInt t0, PetscInt nt)
{
  const Tile *t      = &ds->tile;
  PetscInt    nplane = grid_ghost_count(t);
  int64_t     key[DATA_MAX_VARS][2], noor[DATA_MAX_VARS] = {0};
  double      val[DATA_MAX_VARS][2];

  PetscFunctionBeginUser;
  for (int k = 0; k < DATA_MAX_VARS; k++) key[k][0] = key[k][1] = NO_KEY, val[k][0] = val[k][1] = 0;
  PetscCheck(t0 >= 0 && nt >= 0 && t0 + nt <= ds->nt, ds->comm, PETSC_ERR_ARG_OUTOFRANGE,
             "time steps [%" PetscInt_FMT ", %" PetscInt_FMT ") outside [0, %" PetscInt_FMT ")", t0, t0 + nt, ds->nt);
  PetscCall(core_stage_push(CORE_STAGE_LOAD));
  for (int k = 0; k < ds->nvar; k++) {
    DataVar   *dv   = &ds->var[k];
    PetscBool  slow = (PetscBool)(dv->role == ROLE_SLOW);
    MPI_Offset start[3], count[3];
    int        d      = 0;
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
    if (ds->check_values) scan_values(ds, k, slow ? 0 : t0, nsteps, key[k], val[k], &noor[k]);

    for (PetscInt s = 0; s < nsteps; s++)
      for (PetscInt y = t->ys; y < t->ys + t->ym; y++)
        for (PetscInt x = t->xs; x < t->xs + t->xm; x++) {
          float    val = dv->val[s * nplane + data_ghost_index(t, x, y)];
          PetscInt o   = (y - t->ys) * t->xm + (x - t->xs);
          if (!isnan(val)) {
            ds->nvalid[k]++;
            if (dv->role != ROLE_TARGET) ds->anyvalid[o] = 1;
          } else if (dv->role != ROLE_TARGET)
            ds->usable[o] = 0;
        }
  }
  ds->t0  = t0;
  ds->ntr = nt;
  PetscCall(core_stage_pop());
  if (ds->check_values) {
    PetscCall(report_values(ds, key, val, noor));
    ds->checked_to = PetscMax(ds->checked_to, t0 + nt);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_check_usable(Dataset *ds, PetscInt *nodata, PetscInt *unusable, PetscInt *total)
{
  PetscInt valid[DATA_MAX_VARS], counts[3] = {0, 0, grid_owned_count(&ds->tile)};

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Allreduce(ds->nvalid, valid, ds->nvar, MPIU_INT, MPI_SUM, ds->comm));
  for (int k = 0; k < ds->nvar; k++)
    PetscCheck(valid[k] > 0 || ds->var[k].role == ROLE_TARGET, ds->comm, RACI_ERR_DATA,
               "%s: %s variable '%s' is entirely missing (every value is _FillValue or NaN)", ds->file->path,
               role_name[ds->var[k].role], ds->var[k].name);
  for (PetscInt i = 0; i < counts[2]; i++) {
    counts[0] += ds->anyvalid[i] ? 0 : 1;
    counts[1] += ds->usable[i] || !ds->anyvalid[i] ? 0 : 1;
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, counts, 3, MPIU_INT, MPI_SUM, ds->comm));
  *nodata   = counts[0];
  *unusable = counts[1];
  *total    = counts[2];
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_scan_presence(Dataset *ds, PetscInt chunk)
{
  PetscInt ng = grid_ghost_count(&ds->tile);
  int      fast[DATA_MAX_VARS], nf = 0;

  PetscFunctionBeginUser;
  for (int k = 0; k < ds->nvar; k++)
    if (ds->var[k].role == ROLE_FAST) fast[nf++] = k;
  PetscCall(PetscFree(ds->present));
  PetscCall(PetscCalloc1((size_t)ng * nf + 1, &ds->present));
  for (PetscInt t0 = 0; t0 < ds->nt; t0 += chunk) {
    PetscInt n = PetscMin(chunk, ds->nt - t0);
    PetscCall(data_read(ds, t0, n));
    for (int k = 0; k < nf; k++)
      for (PetscInt d = 0; d < n; d++)
        for (PetscInt g = 0; g < ng; g++) ds->present[g * nf + k] |= !isnan(ds->var[fast[k]].val[d * ng + g]);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode data_close(Dataset **pds)
{
  Dataset *ds = *pds;

  PetscFunctionBeginUser;
  if (!ds) PetscFunctionReturn(PETSC_SUCCESS);
  for (int k = 0; k < ds->nvar; k++) PetscCall(PetscFree(ds->var[k].val));
  PetscCall(PetscFree(ds->usable));
  PetscCall(PetscFree(ds->anyvalid));
  PetscCall(PetscFree(ds->present));
  PetscCall(PetscFree(ds->time));
  PetscCall(grid_tile_destroy(&ds->tile));
  PetscCall(io_close(&ds->file));
  PetscCall(PetscFree(ds));
  *pds = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}
