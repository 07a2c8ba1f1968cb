/* ncread: reading any NetCDF file (classic, 64-bit offset, CDF-5 and
 * NetCDF-4/HDF5) through netCDF-C, for raci prep -format grid only.
 *
 * raci's own inputs and outputs go through PnetCDF (raci/io.h); a user's
 * forcing often comes as NetCDF-4, which PnetCDF cannot read, so prep reads
 * it here. Serial and local: every call touches one file on the calling rank
 * and no other rank. The handle is opaque so this header does not bring
 * netcdf.h (whose names clash with pnetcdf.h) into the files that write.
 *
 * Failures are input errors, not PETSc errors: functions return 0 on success
 * and fill `msg` with one line "FILE: what" otherwise. */
#ifndef RACI_NCREAD_H
#define RACI_NCREAD_H

#include <stddef.h>

#define NCR_MAX_DIMS 8
#define NCR_NAME_LEN 256

typedef struct NcrFile NcrFile;

typedef struct {
  char   name[NCR_NAME_LEN];
  int    ndims;
  char   dim[NCR_MAX_DIMS][NCR_NAME_LEN];
  size_t len[NCR_MAX_DIMS];
  int    is_integer; /* stored as an integer type (packed values, class codes, masks) */
} NcrVar;

int         ncr_open(const char *path, NcrFile **f, char *msg, size_t len);
void        ncr_close(NcrFile **f);
const char *ncr_path(const NcrFile *f);
const char     *
ncr_format(const NcrFile *f); /* "classic", "64-bit offset", "CDF-5", "NetCDF-4", "NetCDF-4 classic model" */
int ncr_nvars(const NcrFile *f);
/* Variable v (0..nvars-1); a variable with more than NCR_MAX_DIMS dimensions is an error. */
int ncr_var(const NcrFile *f, int v, NcrVar *var, char *msg, size_t len);
int ncr_find_var(const NcrFile *f, const char *name); /* -1 when absent */
/* Text attribute of variable v (-1: global) into buf; 1 when found, 0 otherwise. */
int ncr_att_text(const NcrFile *f, int v, const char *att, char *buf, size_t len);
/* Up to nmax values of a numeric attribute as double; the count (0 when absent or text). */
int ncr_att_doubles(const NcrFile *f, int v, const char *att, double *vals, int nmax);
/* Hyperslab as double, exactly as stored (coordinates, time). */
int ncr_read_raw(const NcrFile *f, int v, const size_t start[], const size_t count[], double *buf, char *msg,
                 size_t len);
/* Hyperslab as double (through a float buffer the handle keeps, for float and short data) with missing values as NaN
 * (_FillValue, missing_value, valid_range/valid_min/valid_max, the type's default fill, NaN), compared on the stored
 * values, then scale_factor and add_offset applied. */
int ncr_read_values(NcrFile *f, int v, const size_t start[], const size_t count[], double *buf, char *msg, size_t len);
/* The same, then a * value + b (a units conversion) in the same pass. */
int ncr_read_affine(NcrFile *f, int v, const size_t start[], const size_t count[], double a, double b, double *buf,
                    char *msg, size_t len);

#endif
