/* io: a thin PnetCDF layer that knows nothing of the model.
 *
 * Every function here is collective over the file's communicator unless it
 * says otherwise. A failed PnetCDF call is agreed on by all ranks (MPI
 * reduction of the status) before anyone branches, so a failure on one rank
 * never leaves the others waiting in a collective.
 *
 * Reading: io_open() checks that the file exists, is classic/64-bit-offset/
 * CDF-5 (NetCDF-4 gets an error naming `nccopy -k cdf5`) and is as long as
 * its header says, then caches the header. io_read_float() returns values
 * as float with missing values (_FillValue, missing_value, valid_*, NaN, the
 * type's default fill) turned into NaN and scale_factor/add_offset applied.
 *
 * Writing: io_create() makes a CDF-5 file under a temporary name next to the
 * final one; io_commit() closes it and renames it into place; if the run fails
 * before that, core_finish() deletes it. */
#ifndef RACI_IO_H
#define RACI_IO_H

#include <raci/core.h>
#include <pnetcdf.h>

/* PnetCDF's NC_MAX_VAR_DIMS is INT_MAX; raci reads files with at most this
 * many dimensions in all, and io_open says so when a file has more. */
#define IO_MAX_DIMS 64

typedef struct {
  char       name[NC_MAX_NAME + 1];
  MPI_Offset len;
} IoDim;

typedef struct {
  char    name[NC_MAX_NAME + 1];
  nc_type type;
  int     ndims;
  int     dimids[IO_MAX_DIMS];
  int     natts;
} IoVar;

typedef struct {
  MPI_Comm   comm;
  int        ncid;
  char       path[PETSC_MAX_PATH_LEN];
  int        format; /* NC_FORMAT_CLASSIC, _64BIT_OFFSET or _64BIT_DATA */
  MPI_Offset size;   /* bytes on disk */
  int        ndims, nvars, unlimdim;
  IoDim     *dims; /* (ndims) owned */
  IoVar     *vars; /* (nvars) owned */
  /* output only */
  PetscBool writing;
  char      tmppath[PETSC_MAX_PATH_LEN];
} IoFile;

/* Agreement of a PnetCDF status over comm; fails on every rank with `code`
 * and "<path>: <what>: <PnetCDF message>" if any rank saw an error. */
PetscErrorCode io_agree_nc(MPI_Comm comm, int status, PetscErrorCode code, const char *path, const char *what);

/* Reading */
PetscErrorCode io_open(MPI_Comm comm, const char *path, IoFile **f);
PetscErrorCode io_close(IoFile **f);
const char    *io_format_name(int format);
int            io_find_var(const IoFile *f, const char *name); /* varid or -1; local */
/* Text attribute into buf ("" and found=false when absent). Local. */
PetscErrorCode io_att_text(const IoFile *f, int varid, const char *att, char *buf, size_t len, PetscBool *found);
/* Length of a text attribute, 0 when absent or not text. Local. */
size_t io_att_text_len(const IoFile *f, int varid, const char *att);
/* First value of a numeric attribute as double. Local. */
PetscErrorCode io_att_double(const IoFile *f, int varid, const char *att, double *val, PetscBool *found);
/* Up to nmax values of a numeric attribute as double; *n = 0 when absent. Local. */
PetscErrorCode io_att_doubles(const IoFile *f, int varid, const char *att, double *vals, int nmax, int *n);
/* Hyperslab as float, missing -> NaN, unpacked. Collective; count may be 0 on some ranks. */
PetscErrorCode io_read_float(const IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[],
                             float *buf);
/* Hyperslab as raw double (coordinates, time). Collective. */
PetscErrorCode io_read_double(const IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[],
                              double *buf);
/* Hyperslab of a char variable. Collective. */
PetscErrorCode io_read_text(const IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[], char *buf);

/* Writing */
/* Fails early, before any heavy work, when `path` cannot be created. */
PetscErrorCode io_check_writable(MPI_Comm comm, const char *path);
PetscErrorCode io_create(MPI_Comm comm, const char *path, IoFile **f);
PetscErrorCode io_def_dim(IoFile *f, const char *name, MPI_Offset len, int *dimid);
PetscErrorCode io_def_var(IoFile *f, const char *name, nc_type type, int ndims, const int dimids[], int *varid);
PetscErrorCode io_put_att_text(IoFile *f, int varid, const char *att, const char *text);
PetscErrorCode io_put_att_float(IoFile *f, int varid, const char *att, nc_type type, int n, const float *vals);
/* Copy the attributes of (src, srcvar) except the ones listed in skip (NULL-terminated). */
PetscErrorCode io_copy_atts(const IoFile *src, int srcvar, IoFile *dst, int dstvar, const char *const skip[]);
PetscErrorCode io_enddef(IoFile *f);
/* Non-blocking writes: queue any number, then io_wait_all (buffers must live until then). */
PetscErrorCode io_iput_float(IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[],
                             const float *buf);
PetscErrorCode io_iput_double(IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[],
                              const double *buf);
PetscErrorCode io_iput_text(IoFile *f, int varid, const MPI_Offset start[], const MPI_Offset count[], const char *buf);
PetscErrorCode io_wait_all(IoFile *f);
/* Close and rename the temporary file into place. */
PetscErrorCode io_commit(IoFile **f);

/* Checkpoints: named binary sections in one file, "RACICKPT", a format
 * version, the sections, and an FNV-1a checksum of all that precedes it.
 * Written by rank 0 to a temporary name, flushed to disk and renamed; read
 * by rank 0, checked, and broadcast. A truncated, corrupt or foreign file is
 * an error naming the file. */
#define IO_CKPT_VERSION 1
typedef struct {
  char   name[16];
  void  *data; /* write: caller's; read: owned by the section list */
  size_t bytes;
} IoSection;

PetscErrorCode io_ckpt_write(MPI_Comm comm, const char *path, const IoSection *sec, int n);
PetscErrorCode io_ckpt_read(MPI_Comm comm, const char *path, IoSection **sec, int *n);
PetscErrorCode io_ckpt_free(IoSection **sec, int n);
/* The section called name, or an error naming the file and the section. */
PetscErrorCode io_ckpt_find(MPI_Comm comm, const char *path, const IoSection *sec, int n, const char *name,
                            size_t bytes, const void **data);

/* CF time axis: "<unit> since <date>" with a calendar. */
typedef enum { CF_CAL_STANDARD, CF_CAL_PROLEPTIC, CF_CAL_JULIAN, CF_CAL_NOLEAP, CF_CAL_ALLLEAP, CF_CAL_360 } CfCalendar;
typedef struct {
  double     unit_seconds;     /* seconds per unit */
  int        year, month, day; /* epoch */
  double     epoch_seconds;    /* seconds into the epoch day */
  CfCalendar calendar;
} CfTime;

/* Local. Returns false in *ok (no error) when units or calendar are not CF. */
PetscErrorCode io_cftime_parse(const char *units, const char *calendar, CfTime *t, PetscBool *ok);
/* Offset `value` (in t's units) to a calendar date and seconds of day. Local. */
void io_cftime_date(const CfTime *t, double value, int *year, int *month, int *day, double *sec);
/* Day number of a date in a calendar (only differences matter) and back. Local. */
long long io_cftime_daynum(CfCalendar cal, long long y, int m, int d);
void      io_cftime_from_daynum(CfCalendar cal, long long n, int *y, int *m, int *d);
/* "YYYY-MM-DD" or "YYYY-MM-DD HH:MM" when not midnight. Local. */
void io_cftime_format(const CfTime *t, double value, char *buf, size_t len);

#endif
