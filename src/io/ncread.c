/* io: reading any NetCDF file through netCDF-C (raci/ncread.h). */
#include <raci/ncread.h>

#include <math.h>
#include <netcdf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* src/io/ncread_pnetcdf.c: the values of classic-family files */
int ncread_pnetcdf_open(const char *path, int *ncid);
int ncread_pnetcdf_get_float(int ncid, int varid, int ndims, const size_t start[], const size_t count[], float *buf);
const char *ncread_pnetcdf_error(int status);
void        ncread_pnetcdf_close(int ncid);

/* How the stored values of one variable become values: looked up once, at its first read. */
typedef struct {
  int     ready;
  nc_type type;
  int     ndims;
  double  lo, hi;        /* valid range: outside is missing (NaN never inside) */
  int     nbad;          /* bad values: _FillValue (or the type's default) and missing_value */
  double  badv[9];       /* the bad values */
  double  scale, offset; /* scale_factor, add_offset */
} NcrPack;

struct NcrFile {
  int      ncid, format, nvars;
  int      pncid; /* the same file opened by PnetCDF (classic family), -1 otherwise */
  char     path[4096];
  float   *scratch; /* values read as float before widening; owned, grown as needed */
  size_t   nscratch;
  NcrPack *pack; /* (nvars), owned; filled variable by variable by pack_of */
};

static int fail(char *msg, size_t len, const char *path, const char *what, int status)
{
  snprintf(msg, len, "%s: %s: %s", path, what, nc_strerror(status));
  return 1;
}

int ncr_open(const char *path, NcrFile **f, char *msg, size_t len)
{
  int      ncid, st;
  NcrFile *g;

  *f = NULL;
  if ((st = nc_open(path, NC_NOWRITE, &ncid)) != NC_NOERR) {
    FILE *probe = fopen(path, "rb");
    if (!probe) {
      snprintf(msg, len, "%s: cannot open: no such file or not readable", path);
      return 1;
    }
    fclose(probe);
    snprintf(msg, len, "%s: not a NetCDF file (%s)", path, nc_strerror(st));
    return 1;
  }
  g = calloc(1, sizeof *g);
  if (!g) {
    nc_close(ncid);
    snprintf(msg, len, "%s: out of memory", path);
    return 1;
  }
  g->ncid = ncid;
  snprintf(g->path, sizeof g->path, "%s", path);
  nc_inq_format(ncid, &g->format);
  nc_inq_nvars(ncid, &g->nvars);
  g->pncid = -1;
  if ((g->format == NC_FORMAT_CLASSIC || g->format == NC_FORMAT_64BIT_OFFSET || g->format == NC_FORMAT_64BIT_DATA) &&
      ncread_pnetcdf_open(path, &g->pncid) != 0)
    g->pncid = -1; /* netCDF-C reads it then */
  *f = g;
  return 0;
}

void ncr_close(NcrFile **f)
{
  if (!*f) return;
  nc_close((*f)->ncid);
  if ((*f)->pncid >= 0) ncread_pnetcdf_close((*f)->pncid);
  free((*f)->scratch);
  free((*f)->pack);
  free(*f);
  *f = NULL;
}

const char *ncr_path(const NcrFile *f) { return f->path; }

const char *ncr_format(const NcrFile *f)
{
  switch (f->format) {
  case NC_FORMAT_CLASSIC:
    return "classic";
  case NC_FORMAT_64BIT_OFFSET:
    return "64-bit offset";
  case NC_FORMAT_64BIT_DATA:
    return "CDF-5";
  case NC_FORMAT_NETCDF4:
    return "NetCDF-4";
  case NC_FORMAT_NETCDF4_CLASSIC:
    return "NetCDF-4 classic model";
  default:
    return "unknown";
  }
}

int ncr_nvars(const NcrFile *f) { return f->nvars; }

int ncr_var(const NcrFile *f, int v, NcrVar *var, char *msg, size_t len)
{
  int     dimids[NC_MAX_VAR_DIMS], st;
  nc_type type;

  memset(var, 0, sizeof *var);
  if ((st = nc_inq_varname(f->ncid, v, var->name)) != NC_NOERR) return fail(msg, len, f->path, "variable", st);
  nc_inq_varndims(f->ncid, v, &var->ndims);
  if (var->ndims > NCR_MAX_DIMS) {
    snprintf(msg, len, "%s: variable %s has %d dimensions; raci prep reads at most %d", f->path, var->name, var->ndims,
             NCR_MAX_DIMS);
    return 1;
  }
  nc_inq_vardimid(f->ncid, v, dimids);
  for (int k = 0; k < var->ndims; k++) {
    nc_inq_dimname(f->ncid, dimids[k], var->dim[k]);
    nc_inq_dimlen(f->ncid, dimids[k], &var->len[k]);
  }
  nc_inq_vartype(f->ncid, v, &type);
  var->is_integer = type == NC_BYTE || type == NC_UBYTE || type == NC_SHORT || type == NC_USHORT || type == NC_INT ||
                    type == NC_UINT || type == NC_INT64 || type == NC_UINT64;
  return 0;
}

int ncr_find_var(const NcrFile *f, const char *name)
{
  int v;
  return nc_inq_varid(f->ncid, name, &v) == NC_NOERR ? v : -1;
}

int ncr_att_text(const NcrFile *f, int v, const char *att, char *buf, size_t len)
{
  nc_type type;
  size_t  n;
  int     vid = v < 0 ? NC_GLOBAL : v;
  buf[0]      = '\0';
  if (nc_inq_att(f->ncid, vid, att, &type, &n) != NC_NOERR || type != NC_CHAR) return 0;
  if (n + 1 > len) {
    char *tmp = malloc(n + 1);
    if (!tmp) return 0;
    nc_get_att_text(f->ncid, vid, att, tmp);
    memcpy(buf, tmp, len - 1);
    buf[len - 1] = '\0';
    free(tmp);
    return 1;
  }
  nc_get_att_text(f->ncid, vid, att, buf);
  buf[n] = '\0';
  return 1;
}

int ncr_att_doubles(const NcrFile *f, int v, const char *att, double *vals, int nmax)
{
  nc_type type;
  size_t  n;
  double  tmp[64];
  int     vid = v < 0 ? NC_GLOBAL : v;
  if (nc_inq_att(f->ncid, vid, att, &type, &n) != NC_NOERR || type == NC_CHAR || type == NC_STRING || n == 0 || n > 64)
    return 0;
  if (nc_get_att_double(f->ncid, vid, att, tmp) != NC_NOERR) return 0;
  for (size_t i = 0; i < n && (int)i < nmax; i++) vals[i] = tmp[i];
  return (int)(n < (size_t)nmax ? n : (size_t)nmax);
}

int ncr_read_raw(const NcrFile *f, int v, const size_t start[], const size_t count[], double *buf, char *msg,
                 size_t len)
{
  int st = nc_get_vara_double(f->ncid, v, start, count, buf);
  if (st != NC_NOERR) {
    char name[NC_MAX_NAME + 1] = "?", what[NC_MAX_NAME + 16];
    nc_inq_varname(f->ncid, v, name);
    snprintf(what, sizeof what, "reading %s", name);
    return fail(msg, len, f->path, what, st);
  }
  return 0;
}

/* The default fill value of a type, as netCDF-C defines it (NaN when none applies). */
static double default_fill(nc_type type)
{
  switch (type) {
  case NC_BYTE:
    return NC_FILL_BYTE;
  case NC_UBYTE:
    return NC_FILL_UBYTE;
  case NC_SHORT:
    return NC_FILL_SHORT;
  case NC_USHORT:
    return NC_FILL_USHORT;
  case NC_INT:
    return NC_FILL_INT;
  case NC_UINT:
    return NC_FILL_UINT;
  case NC_FLOAT:
    return NC_FILL_FLOAT;
  case NC_DOUBLE:
    return NC_FILL_DOUBLE;
  default:
    return NAN;
  }
}

int ncr_read_values(NcrFile *f, int v, const size_t start[], const size_t count[], double *buf, char *msg, size_t len)
{
  return ncr_read_affine(f, v, start, count, 1.0, 0.0, buf, msg, len);
}

/* The packing and missing-value attributes of variable v, from the cache (NULL: out of memory). Reading them on
 * every call cost seven attribute look-ups per time step of an hourly forcing. */
static const NcrPack *pack_of(NcrFile *f, int v)
{
  NcrPack *k;
  double   fill[1], miss[8], range[2], vmin[1], vmax[1];
  int      nfill, nmiss;

  if (!f->pack && !(f->pack = calloc((size_t)(f->nvars > 0 ? f->nvars : 1), sizeof *f->pack))) return NULL;
  k = &f->pack[v];
  if (k->ready) return k;
  nc_inq_vartype(f->ncid, v, &k->type);
  nc_inq_varndims(f->ncid, v, &k->ndims);
  nfill = ncr_att_doubles(f, v, "_FillValue", fill, 1);
  nmiss = ncr_att_doubles(f, v, "missing_value", miss, 8);
  k->lo = -INFINITY, k->hi = INFINITY;
  if (ncr_att_doubles(f, v, "valid_range", range, 2) == 2) k->lo = range[0], k->hi = range[1];
  if (ncr_att_doubles(f, v, "valid_min", vmin, 1)) k->lo = vmin[0];
  if (ncr_att_doubles(f, v, "valid_max", vmax, 1)) k->hi = vmax[0];
  k->scale = 1, k->offset = 0;
  ncr_att_doubles(f, v, "scale_factor", &k->scale, 1);
  ncr_att_doubles(f, v, "add_offset", &k->offset, 1);
  if (!nfill) fill[0] = default_fill(k->type), nfill = !isnan(fill[0]) && k->type != NC_BYTE && k->type != NC_UBYTE;
  k->nbad = 0;
  if (nfill) k->badv[k->nbad++] = fill[0];
  for (int i = 0; i < nmiss; i++) k->badv[k->nbad++] = miss[i];
  k->ready = 1;
  return k;
}

int ncr_read_affine(NcrFile *f, int v, const size_t start[], const size_t count[], double a, double b, double *buf,
                    char *msg, size_t len)
{
  const NcrPack *k  = pack_of(f, v);
  size_t         n  = 1;
  float         *fb = NULL; /* the values as read, when read as float */

  if (!k) {
    snprintf(msg, len, "%s: out of memory", f->path);
    return 1;
  }
  for (int d = 0; d < k->ndims; d++) n *= count[d];
  if (k->type == NC_FLOAT || k->type == NC_SHORT || k->type == NC_BYTE || k->type == NC_UBYTE || k->type == NC_USHORT) {
    /* exact in float: half the bytes through netCDF's conversion, widened in the pass below */
    int st;
    if (n > f->nscratch) {
      float *g = realloc(f->scratch, n * sizeof *g);
      if (!g) {
        snprintf(msg, len, "%s: out of memory", f->path);
        return 1;
      }
      f->scratch = g, f->nscratch = n;
    }
    fb = f->scratch;
    if (f->pncid >= 0 && (st = ncread_pnetcdf_get_float(f->pncid, v, k->ndims, start, count, fb)) != 0) {
      char name[NC_MAX_NAME + 1] = "?";
      nc_inq_varname(f->ncid, v, name);
      snprintf(msg, len, "%s: reading %s: %s", f->path, name, ncread_pnetcdf_error(st));
      return 1;
    }
    if (f->pncid < 0 && (st = nc_get_vara_float(f->ncid, v, start, count, fb)) != NC_NOERR) {
      char name[NC_MAX_NAME + 1] = "?", what[NC_MAX_NAME + 16];
      nc_inq_varname(f->ncid, v, name);
      snprintf(what, sizeof what, "reading %s", name);
      return fail(msg, len, f->path, what, st);
    }
  } else if (ncr_read_raw(f, v, start, count, buf, msg, len))
    return 1;
  {
    /* one pass: a value is good inside [lo, hi] (which NaN never is) and equal to none of the bad values */
    const double lo = k->lo, hi = k->hi, sc = k->scale * a, of = k->offset * a + b;
    if (k->nbad == 1) { /* the common case, kept simple enough to vectorise */
      const double bad = k->badv[0];
      if (fb)
        for (size_t i = 0; i < n; i++) {
          double x = fb[i];
          buf[i]   = (x >= lo && x <= hi && x != bad) ? x * sc + of : NAN;
        }
      else
        for (size_t i = 0; i < n; i++) {
          double x = buf[i];
          buf[i]   = (x >= lo && x <= hi && x != bad) ? x * sc + of : NAN;
        }
    } else
      for (size_t i = 0; i < n; i++) {
        double x   = fb ? fb[i] : buf[i];
        int    bad = !(x >= lo && x <= hi);
        for (int j = 0; j < k->nbad; j++) bad |= x == k->badv[j];
        buf[i] = bad ? NAN : x * sc + of;
      }
  }
  return 0;
}
