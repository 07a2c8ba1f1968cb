/* raci info FILE: what a file holds, as raci sees it. */
#include <raci/app.h>
#include <raci/data.h>

#include <math.h>
#include <string.h>

static const char *type_name(nc_type t)
{
  switch (t) {
  case NC_BYTE:
    return "byte";
  case NC_UBYTE:
    return "ubyte";
  case NC_CHAR:
    return "char";
  case NC_SHORT:
    return "short";
  case NC_USHORT:
    return "ushort";
  case NC_INT:
    return "int";
  case NC_UINT:
    return "uint";
  case NC_INT64:
    return "int64";
  case NC_UINT64:
    return "uint64";
  case NC_FLOAT:
    return "float";
  case NC_DOUBLE:
    return "double";
  default:
    return "?";
  }
}

/* Fraction of missing values of a numeric variable. The first dimension is
 * split over the ranks and read in bounded slabs. Collective. */
static PetscErrorCode missing_fraction(const IoFile *f, int v, double *frac)
{
  const IoVar *var = &f->vars[v];
  MPI_Offset   row = 1, nrows, start[IO_MAX_DIMS] = {0}, count[IO_MAX_DIMS] = {0};
  PetscInt     lo, n = PETSC_DECIDE, N, chunk, iters, miss[2] = {0, 0};
  float       *buf;

  PetscFunctionBeginUser;
  if (var->ndims == 0) {
    float x;
    PetscCall(io_read_float(f, v, start, count, &x));
    *frac = isnan(x) ? 1.0 : 0.0;
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  nrows = f->dims[var->dimids[0]].len;
  for (int d = 1; d < var->ndims; d++) row *= f->dims[var->dimids[d]].len;
  N = (PetscInt)nrows;
  PetscCall(PetscSplitOwnership(f->comm, &n, &N));
  PetscCallMPI(MPI_Scan(&n, &lo, 1, MPIU_INT, MPI_SUM, f->comm));
  lo -= n;
  chunk = (PetscInt)PetscMax(1, (1 << 22) / PetscMax(row, 1));
  iters = (n + chunk - 1) / chunk;
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &iters, 1, MPIU_INT, MPI_MAX, f->comm));
  PetscCall(PetscMalloc1(PetscMin(chunk, PetscMax(n, 1)) * row + 1, &buf));
  for (PetscInt it = 0; it < iters; it++) {
    PetscInt r0 = lo + it * chunk, nr = PetscMax(0, PetscMin(chunk, lo + n - r0));
    for (int d = 1; d < var->ndims; d++) count[d] = f->dims[var->dimids[d]].len;
    start[0] = nr > 0 ? r0 : 0;
    count[0] = nr;
    PetscCall(io_read_float(f, v, start, count, buf));
    for (MPI_Offset i = 0; i < (MPI_Offset)nr * row; i++) miss[0] += isnan(buf[i]) ? 1 : 0;
    miss[1] += (PetscInt)(nr * row);
  }
  PetscCall(PetscFree(buf));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, miss, 2, MPIU_INT, MPI_SUM, f->comm));
  *frac = miss[1] ? (double)miss[0] / (double)miss[1] : 0.0;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The first time axis of the file: a dimension with a "<unit> since" coordinate. */
static PetscErrorCode print_time_span(const IoFile *f)
{
  PetscFunctionBeginUser;
  for (int d = 0; d < f->ndims; d++) {
    int        v = io_find_var(f, f->dims[d].name);
    char       units[128], cal[64], a[32], b[32];
    PetscBool  found, ok;
    CfTime     ct;
    double    *t, dmin = INFINITY, dmax = -INFINITY;
    MPI_Offset start = 0, count = f->dims[d].len;

    if (v < 0 || f->vars[v].ndims != 1 || f->vars[v].type == NC_CHAR) continue;
    PetscCall(io_att_text(f, v, "units", units, sizeof units, &found));
    PetscCall(io_att_text(f, v, "calendar", cal, sizeof cal, &found));
    PetscCall(io_cftime_parse(units, cal, &ct, &ok));
    if (!ok) continue;
    if (count == 0) {
      PetscCall(PetscPrintf(f->comm, "time: axis '%s' is empty\n", f->dims[d].name));
      PetscFunctionReturn(PETSC_SUCCESS);
    }
    PetscCall(PetscMalloc1(count, &t));
    PetscCall(io_read_double(f, v, &start, &count, t));
    io_cftime_format(&ct, t[0], a, sizeof a);
    io_cftime_format(&ct, t[count - 1], b, sizeof b);
    for (MPI_Offset i = 1; i < count; i++) {
      dmin = PetscMin(dmin, t[i] - t[i - 1]);
      dmax = PetscMax(dmax, t[i] - t[i - 1]);
    }
    PetscCall(PetscPrintf(f->comm, "time: %s to %s, %lld steps (axis '%s', units \"%s\", calendar %s)\n", a, b,
                          (long long)count, f->dims[d].name, units, found ? cal : "standard (default)"));
    if (count > 1) {
      /* snprintf, not PetscPrintf: PETSc prints %g as "3." */
      char step[96];
      int  ul = (int)strcspn(units, " ");
      if (dmin == dmax)
        snprintf(step, sizeof step, "step %g %.*s", dmin, ul, units);
      else
        snprintf(step, sizeof step, "irregular steps, %g to %g %.*s", dmin, dmax, ul, units);
      PetscCall(PetscPrintf(f->comm, "      %s\n", step));
      if (dmin <= 0) PetscCall(PetscPrintf(f->comm, "      warning: time is not strictly increasing\n"));
    }
    PetscCall(PetscFree(t));
    PetscFunctionReturn(PETSC_SUCCESS);
  }
  PetscCall(PetscPrintf(f->comm, "time: no CF time axis (no coordinate with \"<unit> since <date>\" units)\n"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode app_info(MPI_Comm comm, const char *path)
{
  RoleOptions ro;
  IoFile     *f;

  PetscFunctionBeginUser;
  PetscCall(data_role_options(comm, &ro));
  if (core_help()) PetscFunctionReturn(PETSC_SUCCESS); /* -help: the options are listed; nothing is read */
  PetscCall(core_check_unused_options(comm));
  {
    const char *in[] = {"FILE", path, NULL}, *outs[] = {NULL};
    PetscCall(core_check_paths(comm, in, outs));
  }
  PetscCall(io_open(comm, path, &f));
  core_stdout_hold(); /* the report in one write: raci info F | head, also under mpirun */
  for (int r = ROLE_FAST; r < NUM_ROLES; r++)
    for (int i = 0; i < ro.n[r]; i++)
      PetscCheck(io_find_var(f, ro.name[r][i]) >= 0, comm, RACI_ERR_DATA,
                 "%s: variable '%s' named by -%s is not in the file", path, ro.name[r][i], role_name[r]);

  PetscCall(
      PetscPrintf(comm, "file: %s\nformat: %s, %lld bytes\n", path, io_format_name(f->format), (long long)f->size));
  PetscCall(PetscPrintf(comm, "dimensions:"));
  for (int d = 0; d < f->ndims; d++)
    PetscCall(PetscPrintf(comm, "%s %s = %lld%s", d ? "," : "", f->dims[d].name, (long long)f->dims[d].len,
                          d == f->unlimdim ? " (unlimited)" : ""));
  PetscCall(PetscPrintf(comm, "\n"));
  PetscCall(print_time_span(f));
  PetscCall(PetscPrintf(comm, "variables:\n  %-20s %-28s %-7s %-16s %-7s %s\n", "name", "dimensions", "type", "units",
                        "role", "missing"));
  for (int v = 0; v < f->nvars; v++) {
    const IoVar *var       = &f->vars[v];
    char         dims[256] = "(", units[64], miss[32];
    size_t       used      = 1;
    PetscBool    found, closed;
    Role         role;

    PetscCall(core_stdout_closed_all(comm, &closed)); /* output not held (no memory stream): stop at a closed pipe */
    if (closed) break;
    for (int d = 0; d < var->ndims; d++)
      used += (size_t)PetscMax(
          0, snprintf(dims + used, sizeof dims - used, "%s%s", d ? "," : "", f->dims[var->dimids[d]].name));
    if (used < sizeof dims - 1) PetscCall(PetscStrlcat(dims, ")", sizeof dims));
    PetscCall(io_att_text(f, v, "units", units, sizeof units, &found));
    if (!found) PetscCall(PetscStrcpy(units, "-"));
    PetscCall(data_var_role(f, v, &ro, &role));
    if (var->type == NC_CHAR)
      PetscCall(PetscStrcpy(miss, "n/a"));
    else {
      double frac = 0;
      PetscCall(missing_fraction(f, v, &frac));
      PetscCall(PetscSNPrintf(miss, sizeof miss, "%.4f%%", 100.0 * frac));
    }
    PetscCall(PetscPrintf(comm, "  %-20s %-28s %-7s %-16s %-7s %s\n", var->name, dims, type_name(var->type), units,
                          role == ROLE_NONE ? "-" : role_name[role], miss));
  }
  core_stdout_release();
  PetscCall(io_close(&f));
  PetscFunctionReturn(PETSC_SUCCESS);
}
