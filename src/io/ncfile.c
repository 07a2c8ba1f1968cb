/* io: PnetCDF files, read and write, with agreed error status on every call. */
#define _GNU_SOURCE /* fallocate */
#include <raci/io.h>

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

PetscErrorCode io_agree_nc(MPI_Comm comm, int status, PetscErrorCode code, const char *path, const char *what)
{
  int worst = status;

  PetscFunctionBeginUser;
  /* PnetCDF errors are negative: the minimum is an error if any rank had one. */
  PetscCallMPI(MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MIN, comm));
  PetscCheck(worst == NC_NOERR, comm, code, "%s: %s: %s", path, what, ncmpi_strerror(worst));
  PetscFunctionReturn(PETSC_SUCCESS);
}

const char *io_format_name(int format)
{
  switch (format) {
  case NC_FORMAT_CLASSIC:
    return "classic (CDF-1)";
  case NC_FORMAT_64BIT_OFFSET:
    return "64-bit offset (CDF-2)";
  case NC_FORMAT_64BIT_DATA:
    return "64-bit data (CDF-5)";
  default:
    return "unknown";
  }
}

/* What the first bytes of a file say it is. */
typedef enum { MAGIC_NONE, MAGIC_CDF1, MAGIC_CDF2, MAGIC_CDF5, MAGIC_HDF5, MAGIC_OTHER, MAGIC_EMPTY } Magic;

static Magic read_magic(const unsigned char *b, size_t n)
{
  static const unsigned char hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  if (n == 0) return MAGIC_EMPTY;
  if (n >= 8 && !memcmp(b, hdf5, 8)) return MAGIC_HDF5;
  if (n >= 4 && b[0] == 'C' && b[1] == 'D' && b[2] == 'F') {
    if (b[3] == 1) return MAGIC_CDF1;
    if (b[3] == 2) return MAGIC_CDF2;
    if (b[3] == 5) return MAGIC_CDF5;
  }
  return MAGIC_OTHER;
}

static PetscErrorCode nc_type_size(nc_type t, MPI_Offset *size)
{
  PetscFunctionBeginUser;
  switch (t) {
  case NC_BYTE:
  case NC_UBYTE:
  case NC_CHAR:
    *size = 1;
    break;
  case NC_SHORT:
  case NC_USHORT:
    *size = 2;
    break;
  case NC_INT:
  case NC_UINT:
  case NC_FLOAT:
    *size = 4;
    break;
  case NC_DOUBLE:
  case NC_INT64:
  case NC_UINT64:
    *size = 8;
    break;
  default:
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_SUP, "unknown NetCDF type %d", (int)t);
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The smallest file length that holds every variable the header describes. */
static PetscErrorCode header_needs(IoFile *f, MPI_Offset *need, int *which)
{
  MPI_Offset recsize = 0, nrec = 0;

  PetscFunctionBeginUser;
  *need  = 0;
  *which = -1;
  if (f->unlimdim >= 0) nrec = f->dims[f->unlimdim].len;
  PetscCall(io_agree_nc(f->comm, ncmpi_inq_recsize(f->ncid, &recsize), RACI_ERR_READ, f->path, "reading the header"));
  for (int v = 0; v < f->nvars; v++) {
    IoVar     *var = &f->vars[v];
    MPI_Offset off = 0, esize = 0, n = 1, end;
    PetscBool  rec = PETSC_FALSE;

    PetscCall(
        io_agree_nc(f->comm, ncmpi_inq_varoffset(f->ncid, v, &off), RACI_ERR_READ, f->path, "reading the header"));
    PetscCall(nc_type_size(var->type, &esize));
    for (int d = 0; d < var->ndims; d++) {
      if (var->dimids[d] == f->unlimdim)
        rec = PETSC_TRUE;
      else
        n *= f->dims[var->dimids[d]].len;
    }
    if (rec) {
      if (nrec == 0) continue;
      end = off + (nrec - 1) * recsize + n * esize;
    } else
      end = off + n * esize;
    if (end > *need) {
      *need  = end;
      *which = v;
    }
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_open(MPI_Comm comm, const char *path, IoFile **out)
{
  IoFile    *f;
  int        rank;
  long long  info[3] = {MAGIC_NONE, 0, 0}; /* magic, errno, size */
  MPI_Offset need;
  int        which;

  PetscFunctionBeginUser;
  *out = NULL;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    FILE         *fp = fopen(path, "rb");
    unsigned char b[8];
    struct stat   st;
    if (!fp)
      info[1] = errno;
    else if (fstat(fileno(fp), &st) || S_ISDIR(st.st_mode)) {
      info[1] = S_ISDIR(st.st_mode) ? EISDIR : errno;
      fclose(fp);
    } else {
      size_t n = fread(b, 1, sizeof b, fp);
      info[0]  = read_magic(b, n);
      info[2]  = (long long)st.st_size;
      fclose(fp);
    }
  }
  PetscCallMPI(MPI_Bcast(info, 3, MPI_LONG_LONG, 0, comm));
  PetscCheck(info[1] == 0, comm, RACI_ERR_OPEN, "cannot open '%s': %s", path, strerror((int)info[1]));
  PetscCheck(info[0] != MAGIC_HDF5, comm, RACI_ERR_READ,
             "'%s' is NetCDF-4 (HDF5), which raci cannot read here; convert it with: nccopy -k cdf5 %s out.nc "
             "(or, for forcing, raci prep -format grid -i %s -o grid.nc)",
             path, path, path);
  PetscCheck(info[0] != MAGIC_EMPTY, comm, RACI_ERR_READ, "'%s' is empty, not a NetCDF file", path);
  PetscCheck(info[0] != MAGIC_OTHER, comm, RACI_ERR_READ, "'%s' is not a NetCDF file (no CDF or HDF5 signature)", path);

  PetscCall(PetscNew(&f));
  f->comm     = comm;
  f->size     = (MPI_Offset)info[2];
  f->unlimdim = -1;
  PetscCall(PetscStrncpy(f->path, path, sizeof f->path));
  {
    int err = ncmpi_open(comm, path, NC_NOWRITE, MPI_INFO_NULL, &f->ncid);
    int worst;
    PetscCallMPI(MPI_Allreduce(&err, &worst, 1, MPI_INT, MPI_MIN, comm));
    if (worst != NC_NOERR) {
      if (err == NC_NOERR) ncmpi_close(f->ncid);
      PetscCall(PetscFree(f));
      SETERRQ(comm, RACI_ERR_READ, "'%s' has an unreadable NetCDF header (truncated or corrupt file?): %s", path,
              ncmpi_strerror(worst));
    }
  }
  PetscCall(io_agree_nc(comm, ncmpi_inq_format(f->ncid, &f->format), RACI_ERR_READ, path, "reading the format"));
  PetscCall(io_agree_nc(comm, ncmpi_inq(f->ncid, &f->ndims, &f->nvars, NULL, &f->unlimdim), RACI_ERR_READ, path,
                        "reading the header"));
  PetscCheck(f->ndims <= IO_MAX_DIMS, comm, RACI_ERR_READ, "'%s' has %d dimensions; raci reads files with at most %d",
             path, f->ndims, IO_MAX_DIMS);
  PetscCall(PetscCalloc1(f->ndims > 0 ? f->ndims : 1, &f->dims));
  PetscCall(PetscCalloc1(f->nvars > 0 ? f->nvars : 1, &f->vars));
  for (int d = 0; d < f->ndims; d++)
    PetscCall(io_agree_nc(comm, ncmpi_inq_dim(f->ncid, d, f->dims[d].name, &f->dims[d].len), RACI_ERR_READ, path,
                          "reading the dimensions"));
  for (int v = 0; v < f->nvars; v++) {
    IoVar *var = &f->vars[v];
    PetscCall(io_agree_nc(comm, ncmpi_inq_var(f->ncid, v, var->name, &var->type, &var->ndims, var->dimids, &var->natts),
                          RACI_ERR_READ, path, "reading the variables"));
  }
  PetscCall(header_needs(f, &need, &which));
  if (need > f->size) {
    const char *vname = which >= 0 ? f->vars[which].name : "?";
    MPI_Offset  size  = f->size;
    PetscCall(io_close(&f));
    SETERRQ(comm, RACI_ERR_READ,
            "'%s' is truncated: %lld bytes on disk but its header needs %lld (variable '%s' runs past the end)", path,
            (long long)size, (long long)need, vname);
  }
  *out = f;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_close(IoFile **pf)
{
  IoFile *f = *pf;

  PetscFunctionBeginUser;
  if (!f) PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(!f->writing, f->comm, PETSC_ERR_ARG_WRONGSTATE, "io_close on an output file; use io_commit");
  {
    MPI_Offset got = 0;
    if (ncmpi_inq_get_size(f->ncid, &got) == NC_NOERR) core_record_io((double)got, 0);
  }
  PetscCall(io_agree_nc(f->comm, ncmpi_close(f->ncid), RACI_ERR_READ, f->path, "closing"));
  PetscCall(PetscFree(f->dims));
  PetscCall(PetscFree(f->vars));
  PetscCall(PetscFree(f));
  *pf = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}

int io_find_var(const IoFile *f, const char *name)
{
  for (int v = 0; v < f->nvars; v++)
    if (!strcmp(f->vars[v].name, name)) return v;
  return -1;
}

PetscErrorCode io_att_text(const IoFile *f, int varid, const char *att, char *buf, size_t len, PetscBool *found)
{
  nc_type    t;
  MPI_Offset n;

  PetscFunctionBeginUser;
  buf[0] = '\0';
  *found = PETSC_FALSE;
  if (ncmpi_inq_att(f->ncid, varid, att, &t, &n) != NC_NOERR || t != NC_CHAR) PetscFunctionReturn(PETSC_SUCCESS);
  if ((size_t)n < len) {
    PetscCheck(ncmpi_get_att_text(f->ncid, varid, att, buf) == NC_NOERR, PETSC_COMM_SELF, RACI_ERR_READ,
               "%s: cannot read attribute %s", f->path, att);
    buf[n] = '\0';
  } else {
    char *tmp;
    PetscCall(PetscMalloc1(n + 1, &tmp));
    PetscCheck(ncmpi_get_att_text(f->ncid, varid, att, tmp) == NC_NOERR, PETSC_COMM_SELF, RACI_ERR_READ,
               "%s: cannot read attribute %s", f->path, att);
    memcpy(buf, tmp, len - 1);
    buf[len - 1] = '\0';
    PetscCall(PetscFree(tmp));
  }
  /* trailing NULs and blanks are padding, not content */
  for (size_t i = strlen(buf); i > 0 && (buf[i - 1] == ' '); i--) buf[i - 1] = '\0';
  *found = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

size_t io_att_text_len(const IoFile *f, int varid, const char *att)
{
  nc_type    t;
  MPI_Offset n;
  if (ncmpi_inq_att(f->ncid, varid, att, &t, &n) != NC_NOERR || t != NC_CHAR) return 0;
  return (size_t)n;
}

PetscErrorCode io_att_double(const IoFile *f, int varid, const char *att, double *val, PetscBool *found)
{
  nc_type    t;
  MPI_Offset n;
  double     v[16];

  PetscFunctionBeginUser;
  *found = PETSC_FALSE;
  if (ncmpi_inq_att(f->ncid, varid, att, &t, &n) != NC_NOERR || t == NC_CHAR || n < 1 || n > 16)
    PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(ncmpi_get_att_double(f->ncid, varid, att, v) == NC_NOERR, PETSC_COMM_SELF, RACI_ERR_READ,
             "%s: cannot read attribute %s", f->path, att);
  *val   = v[0];
  *found = PETSC_TRUE;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_att_doubles(const IoFile *f, int varid, const char *att, double *vals, int nmax, int *n)
{
  nc_type    t;
  MPI_Offset len;

  PetscFunctionBeginUser;
  *n = 0;
  if (ncmpi_inq_att(f->ncid, varid, att, &t, &len) != NC_NOERR || t == NC_CHAR || len < 1)
    PetscFunctionReturn(PETSC_SUCCESS);
  PetscCheck(len <= nmax, PETSC_COMM_SELF, RACI_ERR_READ, "%s: attribute %s has %lld values, more than %d", f->path,
             att, (long long)len, nmax);
  PetscCheck(ncmpi_get_att_double(f->ncid, varid, att, vals) == NC_NOERR, PETSC_COMM_SELF, RACI_ERR_READ,
             "%s: cannot read attribute %s", f->path, att);
  *n = (int)len;
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* How a variable marks missing values and packs its data (NetCDF User Guide, CF 2.5.1, 8.1). */
typedef struct {
  int    nmiss;
  double miss[5];    /* _FillValue (or the type's default), missing_value(s) */
  double vmin, vmax; /* valid range; +-inf when absent */
  double scale, offset;
} Unpack;

static PetscErrorCode get_unpack(const IoFile *f, int varid, Unpack *u)
{
  nc_type    t, vt = f->vars[varid].type;
  MPI_Offset n;
  PetscBool  found;
  double     v[4];

  PetscFunctionBeginUser;
  u->nmiss  = 0;
  u->vmin   = -INFINITY;
  u->vmax   = INFINITY;
  u->scale  = 1.0;
  u->offset = 0.0;
  PetscCall(io_att_double(f, varid, "_FillValue", &v[0], &found));
  if (found)
    u->miss[u->nmiss++] = v[0];
  else {
    /* Unwritten values hold the type's default fill; bytes have none (NUG). */
    switch (vt) {
    case NC_SHORT:
      u->miss[u->nmiss++] = NC_FILL_SHORT;
      break;
    case NC_INT:
      u->miss[u->nmiss++] = NC_FILL_INT;
      break;
    case NC_FLOAT:
      u->miss[u->nmiss++] = (double)NC_FILL_FLOAT;
      break;
    case NC_DOUBLE:
      u->miss[u->nmiss++] = NC_FILL_DOUBLE;
      break;
    case NC_USHORT:
      u->miss[u->nmiss++] = NC_FILL_USHORT;
      break;
    case NC_UINT:
      u->miss[u->nmiss++] = NC_FILL_UINT;
      break;
    default:
      break;
    }
  }
  if (ncmpi_inq_att(f->ncid, varid, "missing_value", &t, &n) == NC_NOERR && t != NC_CHAR && n >= 1 && n <= 4) {
    PetscCheck(ncmpi_get_att_double(f->ncid, varid, "missing_value", v) == NC_NOERR, PETSC_COMM_SELF, RACI_ERR_READ,
               "%s: cannot read missing_value of %s", f->path, f->vars[varid].name);
    for (int i = 0; i < n; i++) u->miss[u->nmiss++] = v[i];
  }
  if (ncmpi_inq_att(f->ncid, varid, "valid_range", &t, &n) == NC_NOERR && t != NC_CHAR && n == 2) {
    PetscCheck(ncmpi_get_att_double(f->ncid, varid, "valid_range", v) == NC_NOERR, PETSC_COMM_SELF, RACI_ERR_READ,
               "%s: cannot read valid_range of %s", f->path, f->vars[varid].name);
    u->vmin = v[0];
    u->vmax = v[1];
  }
  PetscCall(io_att_double(f, varid, "valid_min", &v[0], &found));
  if (found) u->vmin = v[0];
  PetscCall(io_att_double(f, varid, "valid_max", &v[0], &found));
  if (found) u->vmax = v[0];
  PetscCall(io_att_double(f, varid, "scale_factor", &v[0], &found));
  if (found) u->scale = v[0];
  PetscCall(io_att_double(f, varid, "add_offset", &v[0], &found));
  if (found) u->offset = v[0];
  PetscFunctionReturn(PETSC_SUCCESS);
}

static MPI_Offset count_product(const IoFile *f, int varid, const MPI_Offset count[])
{
  MPI_Offset n = 1;
  for (int d = 0; d < f->vars[varid].ndims; d++) n *= count[d];
  return n;
}

PetscErrorCode io_read_double(const IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[],
                              double *buf)
{
  MPI_Offset zero[IO_MAX_DIMS] = {0};
  double     dummy;
  int        err;

  PetscFunctionBeginUser;
  if (count_product(f, varid, count) == 0)
    err = ncmpi_get_vara_double_all(f->ncid, varid, zero, zero, &dummy);
  else
    err = ncmpi_get_vara_double_all(f->ncid, varid, start, count, buf);
  {
    char what[NC_MAX_NAME + 32];
    PetscCall(PetscSNPrintf(what, sizeof what, "reading variable '%s'", f->vars[varid].name));
    PetscCall(io_agree_nc(f->comm, err, RACI_ERR_READ, f->path, what));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_read_text(const IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[], char *buf)
{
  MPI_Offset zero[IO_MAX_DIMS] = {0};
  char       dummy;
  int        err;

  PetscFunctionBeginUser;
  if (count_product(f, varid, count) == 0)
    err = ncmpi_get_vara_text_all(f->ncid, varid, zero, zero, &dummy);
  else
    err = ncmpi_get_vara_text_all(f->ncid, varid, start, count, buf);
  {
    char what[NC_MAX_NAME + 32];
    PetscCall(PetscSNPrintf(what, sizeof what, "reading variable '%s'", f->vars[varid].name));
    PetscCall(io_agree_nc(f->comm, err, RACI_ERR_READ, f->path, what));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_read_float(const IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[], float *buf)
{
  MPI_Offset n = count_product(f, varid, count);
  double    *tmp;
  Unpack     u;

  PetscFunctionBeginUser;
  PetscCheck(f->vars[varid].type != NC_CHAR, f->comm, RACI_ERR_DATA, "%s: variable '%s' holds characters, not numbers",
             f->path, f->vars[varid].name);
  PetscCall(get_unpack(f, varid, &u));
  PetscCall(PetscMalloc1(n > 0 ? n : 1, &tmp));
  PetscCall(io_read_double(f, varid, start, count, tmp));
  for (MPI_Offset i = 0; i < n; i++) {
    double    x    = tmp[i];
    PetscBool miss = (PetscBool)(isnan(x) || x < u.vmin || x > u.vmax);
    for (int k = 0; k < u.nmiss && !miss; k++) miss = (PetscBool)(x == u.miss[k]);
    buf[i] = miss ? NAN : (float)(x * u.scale + u.offset);
  }
  PetscCall(PetscFree(tmp));
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* ---------------------------------------------------------------- writing */

PetscErrorCode io_check_writable(MPI_Comm comm, const char *path)
{
  int  rank;
  long err = 0;

  PetscFunctionBeginUser;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) err = core_probe_writable(path);
  PetscCall(core_rank0_errno(comm, RACI_ERR_WRITE, err, "cannot write output '%s'", path));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_create(MPI_Comm comm, const char *path, IoFile **out)
{
  IoFile *f;
  long    pid = (long)getpid();

  PetscFunctionBeginUser;
  PetscCall(io_check_writable(comm, path));
  PetscCallMPI(MPI_Bcast(&pid, 1, MPI_LONG, 0, comm));
  PetscCall(PetscNew(&f));
  f->comm     = comm;
  f->writing  = PETSC_TRUE;
  f->unlimdim = -1;
  f->format   = NC_FORMAT_64BIT_DATA;
  PetscCall(PetscStrncpy(f->path, path, sizeof f->path));
  core_tmp_path(f->tmppath, sizeof f->tmppath, path, pid);
  /* every rank: whichever one a signal reaches first removes it (mpirun
   * follows SIGTERM with SIGKILL after a second, and a rank deep in a write
   * may not run its handler in time) */
  PetscCall(core_pending_add(f->tmppath));
  PetscCall(io_agree_nc(comm, ncmpi_create(comm, f->tmppath, NC_CLOBBER | NC_64BIT_DATA, MPI_INFO_NULL, &f->ncid),
                        RACI_ERR_WRITE, path, "creating the output"));
  *out = f;
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_def_dim(IoFile *f, const char *name, MPI_Offset len, int *dimid)
{
  PetscFunctionBeginUser;
  PetscCall(io_agree_nc(f->comm, ncmpi_def_dim(f->ncid, name, len, dimid), RACI_ERR_WRITE, f->path, name));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_def_var(IoFile *f, const char *name, nc_type type, int ndims, const int dimids[], int *varid)
{
  PetscFunctionBeginUser;
  PetscCall(
      io_agree_nc(f->comm, ncmpi_def_var(f->ncid, name, type, ndims, dimids, varid), RACI_ERR_WRITE, f->path, name));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_put_att_text(IoFile *f, int varid, const char *att, const char *text)
{
  PetscFunctionBeginUser;
  PetscCall(io_agree_nc(f->comm, ncmpi_put_att_text(f->ncid, varid, att, (MPI_Offset)strlen(text), text),
                        RACI_ERR_WRITE, f->path, att));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_put_att_float(IoFile *f, int varid, const char *att, nc_type type, int n, const float *vals)
{
  PetscFunctionBeginUser;
  PetscCall(
      io_agree_nc(f->comm, ncmpi_put_att_float(f->ncid, varid, att, type, n, vals), RACI_ERR_WRITE, f->path, att));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_copy_atts(const IoFile *src, int srcvar, IoFile *dst, int dstvar, const char *const skip[])
{
  int natts = 0;

  PetscFunctionBeginUser;
  PetscCall(io_agree_nc(dst->comm, ncmpi_inq_varnatts(src->ncid, srcvar, &natts), RACI_ERR_READ, src->path,
                        "reading attributes"));
  for (int a = 0; a < natts; a++) {
    char      name[NC_MAX_NAME + 1];
    PetscBool skipped = PETSC_FALSE;
    PetscCall(io_agree_nc(dst->comm, ncmpi_inq_attname(src->ncid, srcvar, a, name), RACI_ERR_READ, src->path,
                          "reading attributes"));
    for (int s = 0; skip && skip[s] && !skipped; s++) skipped = (PetscBool)!strcmp(name, skip[s]);
    if (skipped) continue;
    PetscCall(io_agree_nc(dst->comm, ncmpi_copy_att(src->ncid, srcvar, name, dst->ncid, dstvar), RACI_ERR_WRITE,
                          dst->path, name));
  }
  PetscFunctionReturn(PETSC_SUCCESS);
}

/* The length of a complete file by its header: the end of the last
 * fixed-size variable or of the last record. Local (header inquiries). */
static int complete_size(int ncid, MPI_Offset *size)
{
  int        err, ndims, nvars, unlim, dimids[IO_MAX_DIMS];
  MPI_Offset nrec = 0, recsize = 0;

  *size = 0;
  if ((err = ncmpi_inq(ncid, &ndims, &nvars, NULL, &unlim)) || (err = ncmpi_inq_header_size(ncid, size)) ||
      (err = ncmpi_inq_recsize(ncid, &recsize)))
    return err;
  if (unlim >= 0 && (err = ncmpi_inq_dimlen(ncid, unlim, &nrec))) return err;
  for (int v = 0; v < nvars; v++) {
    int        nd;
    nc_type    type;
    MPI_Offset off, n = 1, esize = 0, end;
    PetscBool  rec = PETSC_FALSE;
    if ((err = ncmpi_inq_varndims(ncid, v, &nd))) return err;
    if (nd > IO_MAX_DIMS) return NC_EMAXDIMS;
    if ((err = ncmpi_inq_var(ncid, v, NULL, &type, &nd, dimids, NULL)) || (err = ncmpi_inq_varoffset(ncid, v, &off)))
      return err;
    if (nc_type_size(type, &esize)) return NC_EBADTYPE;
    for (int d = 0; d < nd; d++) {
      MPI_Offset len;
      if (dimids[d] == unlim) {
        rec = PETSC_TRUE;
        continue;
      }
      if ((err = ncmpi_inq_dimlen(ncid, dimids[d], &len))) return err;
      n *= len;
    }
    if (rec && nrec == 0) continue;
    end = rec ? off + (nrec - 1) * recsize + n * esize : off + n * esize;
    if (end > *size) *size = end;
  }
  return NC_NOERR;
}

PetscErrorCode io_enddef(IoFile *f)
{
  MPI_Offset need = 0;
  int        rank;
  long       err = 0;

  PetscFunctionBeginUser;
  PetscCall(io_agree_nc(f->comm, ncmpi_enddef(f->ncid), RACI_ERR_WRITE, f->path, "ending define mode"));
  PetscCall(io_agree_nc(f->comm, complete_size(f->ncid, &need), RACI_ERR_WRITE, f->path, "reading back the header"));
  /* Reserve the whole file now: a full disk (or quota) fails here, before
   * the work, and the writes cannot leave holes. File systems without
   * fallocate are not an error (io_commit still checks the length). */
  PetscCallMPI(MPI_Comm_rank(f->comm, &rank));
  if (rank == 0 && need > 0) {
    int fd = open(f->tmppath, O_WRONLY);
    if (fd < 0)
      err = errno;
    else {
#ifdef __linux__
      if (fallocate(fd, 0, 0, (off_t)need) && errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL) err = errno;
#else
      int e = posix_fallocate(fd, 0, (off_t)need);
      if (e && e != EOPNOTSUPP && e != EINVAL) err = e;
#endif
      if (close(fd) && !err) err = errno;
    }
  }
  PetscCall(core_rank0_errno(f->comm, RACI_ERR_WRITE, err, "cannot write output '%s': reserving its %.1f MB", f->path,
                             (double)need / 1e6));
  PetscFunctionReturn(PETSC_SUCCESS);
}

static PetscBool empty(const IoFile *f, int varid, const MPI_Offset count[])
{
  int ndims = 0;
  ncmpi_inq_varndims(f->ncid, varid, &ndims);
  for (int d = 0; d < ndims; d++)
    if (count[d] == 0) return PETSC_TRUE;
  return PETSC_FALSE;
}

PetscErrorCode io_iput_float(IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[], const float *buf)
{
  int req, err = NC_NOERR;

  PetscFunctionBeginUser;
  if (!empty(f, varid, count)) err = ncmpi_iput_vara_float(f->ncid, varid, start, count, buf, &req);
  PetscCheck(err == NC_NOERR, PETSC_COMM_SELF, RACI_ERR_WRITE, "%s: queueing a write: %s", f->path,
             ncmpi_strerror(err));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_iput_double(IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[],
                              const double *buf)
{
  int req, err = NC_NOERR;

  PetscFunctionBeginUser;
  if (!empty(f, varid, count)) err = ncmpi_iput_vara_double(f->ncid, varid, start, count, buf, &req);
  PetscCheck(err == NC_NOERR, PETSC_COMM_SELF, RACI_ERR_WRITE, "%s: queueing a write: %s", f->path,
             ncmpi_strerror(err));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_iput_text(IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[], const char *buf)
{
  int req, err = NC_NOERR;

  PetscFunctionBeginUser;
  if (!empty(f, varid, count)) err = ncmpi_iput_vara_text(f->ncid, varid, start, count, buf, &req);
  PetscCheck(err == NC_NOERR, PETSC_COMM_SELF, RACI_ERR_WRITE, "%s: queueing a write: %s", f->path,
             ncmpi_strerror(err));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_wait_all(IoFile *f)
{
  PetscFunctionBeginUser;
  PetscCall(io_agree_nc(f->comm, ncmpi_wait_all(f->ncid, NC_REQ_ALL, NULL, NULL), RACI_ERR_WRITE, f->path, "writing"));
  PetscFunctionReturn(PETSC_SUCCESS);
}

PetscErrorCode io_commit(IoFile **pf)
{
  IoFile    *f = *pf;
  int        rank;
  long       err  = 0;
  MPI_Offset need = 0, size = 0;

  PetscFunctionBeginUser;
  PetscCheck(f->writing, f->comm, PETSC_ERR_ARG_WRONGSTATE, "io_commit on an input file");
  {
    MPI_Offset put = 0, got = 0;
    if (ncmpi_inq_put_size(f->ncid, &put) == NC_NOERR && ncmpi_inq_get_size(f->ncid, &got) == NC_NOERR)
      core_record_io((double)got, (double)put);
  }
  PetscCall(io_agree_nc(f->comm, complete_size(f->ncid, &need), RACI_ERR_WRITE, f->path, "reading back the header"));
  /* every byte on the storage before the name changes (MPI_File_sync) */
  PetscCall(io_agree_nc(f->comm, ncmpi_sync(f->ncid), RACI_ERR_WRITE, f->path, "flushing the output to disk"));
  PetscCall(io_agree_nc(f->comm, ncmpi_close(f->ncid), RACI_ERR_WRITE, f->path, "closing the output"));
  PetscCallMPI(MPI_Comm_rank(f->comm, &rank));
  if (rank == 0) {
    struct stat st;
    /* a write lost on the way (an MPI-IO layer that prints an error but
     * returns success) leaves the file shorter than its header says */
    if (stat(f->tmppath, &st))
      err = errno;
    else if ((MPI_Offset)st.st_size < need) {
      err  = -1;
      size = (MPI_Offset)st.st_size;
    }
    if (!err && rename(f->tmppath, f->path)) err = errno;
    if (err) unlink(f->tmppath); /* the previous file, if any, stays as it was */
  }
  PetscCall(core_pending_remove(f->tmppath)); /* every rank registered it (io_create) */
  PetscCall(core_rank0_check(f->comm, err == -1 ? RACI_ERR_WRITE : 0,
                             "cannot write output '%s': only %lld of its %lld bytes reached the disk (full disk or "
                             "quota?); the previous file, if any, is untouched",
                             f->path, (long long)size, (long long)need));
  PetscCall(core_rank0_errno(f->comm, RACI_ERR_WRITE, err, "cannot write output '%s': renaming '%s' into place",
                             f->path, f->tmppath));
  PetscCall(PetscFree(f));
  *pf = NULL;
  PetscFunctionReturn(PETSC_SUCCESS);
}
